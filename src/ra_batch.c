/* Graph's JSON $batch body and responses, without httpd. */
#include "ra_batch.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <apr_lib.h>
#include <apr_strings.h>
#include <jansson.h>

#include "ra_odata.h"

/* Longest part of an id or url a message quotes. */
#define QUOTE_MAX 64

static const char *const methods[] = { "GET", "POST", "PATCH", "PUT", "DELETE" };

/* Why a batch is refused: *message, and 0. */
static int refuse(const char **message, const char *text)
{
    *message = text;
    return 0;
}

static const char *quote(apr_pool_t *pool, const char *text)
{
    return apr_psprintf(pool, "'%.*s'", QUOTE_MAX, text);
}

/* The name of request i in a message: its id once known, else its index. */
static const char *request_name(apr_pool_t *pool, const ra_batch_request_t *request, int i)
{
    return request->id ? apr_psprintf(pool, "request %s", quote(pool, request->id))
                       : apr_psprintf(pool, "requests[%d]", i);
}

/* RFC 9110 token characters: a header name; an empty one is refused. */
static int header_name_ok(const char *name)
{
    static const char tchar[] = "!#$%&'*+-.^_`|~0123456789"
                                "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    return *name && strspn(name, tchar) == strlen(name);
}

/* A field value: no control characters but horizontal tab. */
static int header_value_ok(const char *value, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)value[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            return 0;
        }
    }
    return 1;
}

static int parse_headers(apr_pool_t *pool, json_t *headers, ra_batch_request_t *request,
                         const char *name, const char **message)
{
    const char *key;
    json_t *value;
    int n = 0;

    if (!json_is_object(headers)) {
        return refuse(message, apr_pstrcat(pool, "The headers of ", name,
                                           " must be a JSON object of strings.", NULL));
    }
    request->headers = apr_pcalloc(pool, (json_object_size(headers) + 1)
                                         * sizeof(ra_batch_header_t));
    json_object_foreach(headers, key, value) {
        if (!json_is_string(value) || !header_name_ok(key)
            || !header_value_ok(json_string_value(value), json_string_length(value))) {
            return refuse(message, apr_pstrcat(pool, "The header ", quote(pool, key), " of ",
                                               name, " is not a valid header.", NULL));
        }
        request->headers[n].name = apr_pstrdup(pool, key);
        request->headers[n].value = apr_pstrdup(pool, json_string_value(value));
        n++;
    }
    request->header_count = n;
    return 1;
}

/* Whether a url's path names a $batch in any segment (also as %24batch). */
static int names_batch(const char *url)
{
    size_t path_len = strcspn(url, "?#");
    for (const char *p = url; p < url + path_len; p++) {
        if (p != url && p[-1] != '/') {
            continue;
        }
        size_t len = strcspn(p, "/?#");
        if ((len == 6 && !strncasecmp(p, "$batch", 6))
            || (len == 8 && !strncasecmp(p, "%24batch", 8))) {
            return 1;
        }
    }
    return 0;
}

static int parse_method(apr_pool_t *pool, json_t *method, ra_batch_request_t *request,
                        const char *name, const char **message)
{
    if (json_is_string(method)) {
        for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
            if (!strcasecmp(json_string_value(method), methods[i])) {
                request->method = methods[i];
                return 1;
            }
        }
    }
    return refuse(message, apr_pstrcat(pool, "The method of ", name, " must be one of GET, "
                                       "POST, PATCH, PUT and DELETE.", NULL));
}

/* One element of "requests"; dependsOn is checked once all ids are known. */
static int parse_request(apr_pool_t *pool, json_t *in, ra_batch_request_t *request, int i,
                         const char **message)
{
    const char *key, *name;
    json_t *value, *body = NULL;

    if (!json_is_object(in)) {
        return refuse(message, apr_psprintf(pool, "requests[%d] must be a JSON object.", i));
    }
    value = json_object_get(in, "id");
    if (!json_is_string(value) || json_string_length(value) == 0) {
        return refuse(message, apr_psprintf(pool, "requests[%d] must have an id: "
                                            "a non-empty string.", i));
    }
    request->id = apr_pstrdup(pool, json_string_value(value));
    name = request_name(pool, request, i);
    json_object_foreach(in, key, value) {
        if (!strcmp(key, "id") || !strcmp(key, "dependsOn")) {
            continue;
        }
        if (!strcmp(key, "method")) {
            if (!parse_method(pool, value, request, name, message)) {
                return 0;
            }
        }
        else if (!strcmp(key, "url")) {
            if (!json_is_string(value) || json_string_length(value) == 0) {
                return refuse(message, apr_pstrcat(pool, "The url of ", name,
                                                   " must be a non-empty string.", NULL));
            }
            request->url = apr_pstrdup(pool, json_string_value(value));
        }
        else if (!strcmp(key, "headers")) {
            if (!json_is_null(value) && !parse_headers(pool, value, request, name, message)) {
                return 0;
            }
        }
        else if (!strcmp(key, "body")) {
            body = json_is_null(value) ? NULL : value;
        }
        else {
            return refuse(message, apr_pstrcat(pool, name, " has the member ", quote(pool, key),
                                               ", which a batch request does not take.",
                                               NULL));
        }
    }
    if (!request->method || !request->url) {
        return refuse(message, apr_pstrcat(pool, name, " must have a method and a url.",
                                           NULL));
    }
    if (names_batch(request->url)) {
        return refuse(message, apr_pstrcat(pool, name, " is itself a $batch; batches do not "
                                           "nest.", NULL));
    }
    if (body) {
        if (!ra_batch_header(request, "Content-Type")) {
            return refuse(message, apr_pstrcat(pool, name, " has a body but no Content-Type "
                                               "header.", NULL));
        }
        /* any JSON value, compact, as jansson writes it */
        char *text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
        request->body = text ? apr_pstrdup(pool, text) : "";
        request->body_len = strlen(request->body);
        free(text);
    }
    return 1;
}

static int index_of(const ra_batch_t *batch, const char *id)
{
    for (int i = 0; i < batch->count; i++) {
        if (!strcmp(batch->requests[i].id, id)) {
            return i;
        }
    }
    return -1;
}

static int parse_depends_on(apr_pool_t *pool, json_t *list, ra_batch_t *batch, int i,
                            const char **message)
{
    ra_batch_request_t *request = &batch->requests[i];
    const char *name = request_name(pool, request, i);
    size_t k;
    json_t *value;

    if (!list || json_is_null(list)) {
        return 1;
    }
    if (!json_is_array(list)) {
        return refuse(message, apr_pstrcat(pool, "The dependsOn of ", name,
                                           " must be an array of request ids.", NULL));
    }
    json_array_foreach(list, k, value) {
        int target = json_is_string(value) ? index_of(batch, json_string_value(value)) : -1;
        if (target < 0) {
            return refuse(message, apr_pstrcat(pool, name, " depends on ",
                                               json_is_string(value)
                                               ? quote(pool, json_string_value(value))
                                               : "a value that is not a string",
                                               ", which is no request of this batch.", NULL));
        }
        if (target == i) {
            return refuse(message, apr_pstrcat(pool, name, " depends on itself.", NULL));
        }
        int seen = 0;
        for (int d = 0; d < request->depends_count; d++) {
            seen |= request->depends_on[d] == target;
        }
        if (!seen) { /* a dependency named twice is one dependency */
            request->depends_on[request->depends_count++] = target;
        }
    }
    return 1;
}

/* Kahn's algorithm, always taking the first ready request in the order
 * sent, so a batch without dependsOn runs as sent. */
static int order_requests(apr_pool_t *pool, ra_batch_t *batch, const char **message)
{
    int done[RA_BATCH_MAX_REQUESTS] = { 0 };
    for (int n = 0; n < batch->count; n++) {
        int next = -1;
        for (int i = 0; i < batch->count && next < 0; i++) {
            int ready = !done[i];
            for (int d = 0; ready && d < batch->requests[i].depends_count; d++) {
                ready = done[batch->requests[i].depends_on[d]];
            }
            if (ready) {
                next = i;
            }
        }
        if (next < 0) {
            const char *ids = "";
            for (int i = 0; i < batch->count; i++) {
                if (!done[i]) {
                    ids = apr_pstrcat(pool, ids, *ids ? ", " : "",
                                      quote(pool, batch->requests[i].id), NULL);
                }
            }
            return refuse(message, apr_pstrcat(pool, "The dependsOn of the requests ", ids,
                                               " form a cycle.", NULL));
        }
        done[next] = 1;
        batch->order[n] = next;
    }
    return 1;
}

static int parse_root(apr_pool_t *pool, json_t *root, ra_batch_t *batch, const char **message)
{
    const char *key;
    json_t *value, *requests = NULL;
    size_t i;

    if (!json_is_object(root)) {
        return refuse(message, "The batch must be a JSON object with a member 'requests'.");
    }
    json_object_foreach(root, key, value) {
        if (strcmp(key, "requests")) {
            return refuse(message, apr_pstrcat(pool, "The batch has the member ",
                                               quote(pool, key), "; it takes 'requests' only.",
                                               NULL));
        }
        requests = value;
    }
    if (!json_is_array(requests) || json_array_size(requests) == 0) {
        return refuse(message, "The batch's 'requests' must be a non-empty array.");
    }
    if (json_array_size(requests) > RA_BATCH_MAX_REQUESTS) {
        return refuse(message, apr_psprintf(pool, "The batch has %lu requests; at most %d "
                                            "are allowed.",
                                            (unsigned long)json_array_size(requests),
                                            RA_BATCH_MAX_REQUESTS));
    }
    json_array_foreach(requests, i, value) {
        ra_batch_request_t *request = &batch->requests[i];
        if (!parse_request(pool, value, request, (int)i, message)) {
            return 0;
        }
        if (index_of(batch, request->id) >= 0) {
            return refuse(message, apr_pstrcat(pool, "Two requests of the batch have the id ",
                                               quote(pool, request->id), ".", NULL));
        }
        batch->count++;
    }
    json_array_foreach(requests, i, value) {
        if (!parse_depends_on(pool, json_object_get(value, "dependsOn"), batch, (int)i,
                              message)) {
            return 0;
        }
    }
    return order_requests(pool, batch, message);
}

int ra_batch_parse(apr_pool_t *pool, const char *body, apr_size_t len, ra_batch_t *batch,
                   const char **message)
{
    json_error_t jerr;
    json_t *root;
    int ok;

    memset(batch, 0, sizeof(*batch));
    *message = NULL;
    if (len == 0) {
        return refuse(message, "Empty Payload, JSON content expected.");
    }
    root = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!root) {
        return refuse(message, apr_psprintf(pool, "Invalid JSON at line %d, column %d: %s.",
                                            jerr.line, jerr.column, jerr.text));
    }
    ok = parse_root(pool, root, batch, message);
    json_decref(root);
    return ok;
}

const char *ra_batch_header(const ra_batch_request_t *request, const char *name)
{
    for (int i = 0; i < request->header_count; i++) {
        if (!strcasecmp(request->headers[i].name, name)) {
            return request->headers[i].value;
        }
    }
    return NULL;
}

const char *ra_batch_url_path(apr_pool_t *pool, const char *root_path, const char *url,
                              const char **message)
{
    size_t path_len = strcspn(url, "?");
    const char *p;

    /* a scheme ("http:", "urn:") before any '/' or '?' */
    for (p = url; apr_isalnum(*p) || *p == '+' || *p == '-' || *p == '.'; p++) {
    }
    if (*p == ':' && p > url && apr_isalpha(*url)) {
        *message = "The url of a batch request must be relative to the service root; "
                   "this service does not fetch other URLs.";
        return NULL;
    }
    if (!strncmp(url, "//", 2)) {
        *message = "The url of a batch request must be a path, not a network location.";
        return NULL;
    }
    for (p = url; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 || c == 0x7f || c == '\\' || c == '#') {
            *message = "The url of a batch request holds a character a URL may not.";
            return NULL;
        }
    }
    for (p = url; p < url + path_len; p++) {
        if (p == url || p[-1] == '/') {
            size_t len = strcspn(p, "/?");
            if ((len == 1 && *p == '.') || (len == 2 && !strncmp(p, "..", 2))
                || !strncasecmp(p, "%2e", 3) || !strncasecmp(p, ".%2e", 4)) {
                *message = "The url of a batch request may not hold '.' or '..' segments.";
                return NULL;
            }
        }
    }
    /* a url that repeats the version root (the Graph JS client's
     * BatchRequestContent strips only the scheme and host) is taken as is;
     * spaces, as clients write them in a $filter, encoded as a request line
     * would carry them */
    size_t root_len = strlen(root_path);
    int rooted = root_len && !strncmp(url, root_path, root_len)
                 && (url[root_len] == '/' || url[root_len] == '?' || !url[root_len]);
    char *path = rooted ? apr_pstrdup(pool, url)
                 : apr_pstrcat(pool, root_path, *url == '/' ? "" : "/", url, NULL), *space;
    while ((space = strchr(path, ' ')) != NULL) {
        *space = '\0';
        path = apr_pstrcat(pool, path, "%20", space + 1, NULL);
    }
    return path;
}

/* ---------------------------------------------------------- responses */

void ra_batch_write_responses(ra_jw_t *jw, apr_pool_t *pool,
                              const ra_batch_response_t *responses, int count)
{
    ra_jw_object_open(jw);
    ra_jw_name(jw, "responses");
    ra_jw_array_open(jw);
    for (int i = 0; i < count; i++) {
        const ra_batch_response_t *response = &responses[i];
        ra_jw_object_open(jw);
        ra_jw_member_string(jw, "id", response->id);
        ra_jw_member_integer(jw, "status", response->status);
        ra_jw_name(jw, "headers");
        ra_jw_object_open(jw);
        for (int h = 0; h < response->header_count; h++) {
            ra_jw_member_string(jw, response->headers[h].name, response->headers[h].value);
        }
        if (response->content_type) {
            ra_jw_member_string(jw, "Content-Type", response->content_type);
        }
        ra_jw_object_close(jw);
        if (response->content_type) {
            ra_jw_name(jw, "body");
            if (ra_odata_is_json(pool, response->content_type)) {
                ra_jw_raw(jw, response->body, response->body_len);
            }
            else {
                ra_jw_stringn(jw, response->body, response->body_len);
            }
        }
        ra_jw_object_close(jw);
    }
    ra_jw_array_close(jw);
    ra_jw_object_close(jw);
}
