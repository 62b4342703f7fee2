/* Graph's JSON $batch: the request body parsed and checked as a whole
 * before anything runs, each inner URL resolved below the version root, and
 * the responses serialised. Pure logic over APR and jansson; the glue
 * (src/mod_ra_batch.c) runs the inner requests. */
#ifndef RA_BATCH_H
#define RA_BATCH_H

#include <apr_pools.h>

#include "ra_json_writer.h"

/* Graph's limit of requests in one batch. */
#define RA_BATCH_MAX_REQUESTS 20

typedef struct {
    const char *name;
    const char *value;
} ra_batch_header_t;

typedef struct {
    const char *id;
    const char *method;             /* upper case: GET, POST, PATCH, PUT or DELETE */
    const char *url;                /* as sent, relative to the version root */
    ra_batch_header_t *headers;     /* as sent: names are matched case-insensitively */
    int header_count;
    const char *body;               /* the body as compact JSON, NUL-terminated; NULL: none */
    apr_size_t body_len;
    int depends_on[RA_BATCH_MAX_REQUESTS]; /* indexes into ra_batch_t.requests */
    int depends_count;
} ra_batch_request_t;

typedef struct {
    ra_batch_request_t requests[RA_BATCH_MAX_REQUESTS];
    int count;
    /* indexes into requests in an order that runs each request after all
     * it depends on (and otherwise in the order sent) */
    int order[RA_BATCH_MAX_REQUESTS];
} ra_batch_t;

/* Parses a $batch body: {"requests":[{"id","method","url","headers","body",
 * "dependsOn"}]} with 1 to RA_BATCH_MAX_REQUESTS requests, unique ids, and
 * a dependsOn that names only other requests of the batch and has no cycle;
 * a request with a body has a Content-Type header; no request is itself a
 * $batch. Returns 1, or 0 with *message naming the problem (a Graph
 * error message, which may quote a bounded part of the body). */
int ra_batch_parse(apr_pool_t *pool, const char *body, apr_size_t len, ra_batch_t *batch,
                   const char **message);

/* The value of an inner request's header (case-insensitive), or NULL. */
const char *ra_batch_header(const ra_batch_request_t *request, const char *name);

/* The path (with its query) an inner request's url names below root_path,
 * the version root's path: root_path "/" url, url's leading '/' optional,
 * or url itself when it starts with root_path (as the Graph JS client
 * sends it).
 * NULL with *message for a url that would leave the version root or the
 * server: a scheme or authority, a '.' or '..' segment, a backslash, a
 * fragment, or a character no request line may hold. */
const char *ra_batch_url_path(apr_pool_t *pool, const char *root_path, const char *url,
                              const char **message);

typedef struct {
    const char *id;
    int status;
    ra_batch_header_t *headers;     /* besides Content-Type */
    int header_count;
    const char *content_type;       /* NULL: no body */
    const char *body;
    apr_size_t body_len;
} ra_batch_response_t;

/* Writes {"responses":[{"id","status","headers","body"}]} with jw: a JSON
 * body as it is (the module's own writer or jansson wrote it), any other as
 * a string; "Content-Type" spelt exactly so in headers (the Graph JS
 * client's BatchResponseContent looks for that key). */
void ra_batch_write_responses(ra_jw_t *jw, apr_pool_t *pool,
                              const ra_batch_response_t *responses, int count);

#endif
