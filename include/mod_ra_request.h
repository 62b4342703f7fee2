/* httpd glue: one request's context and the steps every operation shares
 * (answering, failing with a Graph error, authorizing, reading the body,
 * reaching the database). Each step returns OK to go on, or DONE (or
 * AP_FILTER_ERROR) once the request has been answered. */
#ifndef MOD_RA_REQUEST_H
#define MOD_RA_REQUEST_H

#include "httpd.h"

#include <apr_buckets.h>
#include <apr_global_mutex.h>
#include <jansson.h>

#include "mod_ra_config.h"
#include "ra_entity.h"
#include "ra_json_writer.h"
#include "ra_metrics.h"
#include "ra_query.h"
#include "ra_route.h"
#include "ra_store.h"
#include "ra_token.h"

/* Seconds a client waits before retrying a 503. */
#define RA_RETRY_AFTER "5"

/* The answer of an inner $batch request, kept instead of sent: its
 * headers stay in the request's headers_out. */
typedef struct {
    int status;
    const char *content_type;   /* NULL: no body */
    const char *body;
    apr_size_t len;
} ra_capture_t;

typedef struct {
    request_rec *r;
    const ra_dir_config_t *cfg;
    const char *request_id;
    const char *client_request_id;
    ra_route_t route;
    const char *service_root;   /* the public root URLs are built on */
    ra_token_result_t token;    /* once authorized */
    ra_query_t query;           /* once parsed */
    ra_store_conn_t conn;       /* once ra_request_connect() succeeded */
    ra_metric_op_e operation;   /* once dispatched */
    apr_time_t db_start;        /* when it asked for the database; 0: not yet */
    ra_jw_t *jw;                /* the body's writer, once ra_body() made it */
    ra_jw_metadata_e metadata;  /* odata.metadata of JSON bodies ($format, Accept) */
    apr_bucket_brigade *body;   /* what it wrote */
    /* an inner request of a $batch (src/mod_ra_batch.c): where its answer
     * goes instead of the connection, and its body (NULL: none), which is
     * read from the batch instead of the connection */
    ra_capture_t *capture;
    const char *inner_body;
    apr_size_t inner_body_len;
} ra_request_t;

/* Fresh request and client request ids; the request id is also r's log id. */
void ra_request_init(ra_request_t *rq, request_rec *r);

/* Answers status with body (NULL: none) of content_type, with Graph's
 * headers, and flushes (an inner $batch request's answer goes to its
 * capture instead). Returns DONE. */
int ra_respond(ra_request_t *rq, int status, const char *content_type,
               const char *body, apr_size_t len);

/* A fresh writer of the response body (at metadata level minimal): JSON
 * written into a brigade of the request, which ra_respond_written answers
 * and ra_body_discard drops. */
ra_jw_t *ra_body(ra_request_t *rq);
void ra_body_discard(ra_request_t *rq);

/* Answers status with what ra_body's writer wrote, as Graph JSON, with its
 * Content-Length, and flushes. A writer that failed answers 500 (RA00130);
 * bytes it replaced as not UTF-8 are logged (RA00131, a warning). */
int ra_respond_written(ra_request_t *rq, int status);

/* Answers status with one entity: its @odata.context, ETag header and the
 * query's $select. */
int ra_respond_entity(ra_request_t *rq, int status, const ra_partner_t *partner);

/* A Graph error response. Logged at debug (the client's mistake, 501
 * included) or error (ours), never with the message, which may quote the
 * request. */
int ra_fail(ra_request_t *rq, int status, const char *code, const char *message);

/* 503 ServiceNotAvailable with Retry-After, after logging what failed. */
int ra_unavailable(ra_request_t *rq, const char *what, const char *error);

/* 503 ServiceNotAvailable with Retry-After for a write that failed: as
 * ra_unavailable, but a write not known to be replicated
 * (RA_STORE_UNREPLICATED) is logged as such (RA00101, a warning). */
int ra_write_failed(ra_request_t *rq, const char *what, ra_store_result_e result,
                    const char *error);

/* 503 ServiceNotAvailable with Retry-After for a list or count that ran
 * past RemoteAssistQueryTimeout (RA_STORE_TIMED_OUT), logged once (RA00090,
 * a warning). what names the operation. */
int ra_query_timed_out(ra_request_t *rq, const char *what);

/* 503 ServiceNotAvailable with Retry-After for a cause start-up already
 * logged once at crit (a section whose configuration was refused, a
 * database not usable yet): why is logged at debug, never per request at
 * error. */
int ra_unavailable_known(ra_request_t *rq, const char *why);

/* 404: the caller's tenant has no partner with the route's id. */
int ra_not_found(ra_request_t *rq);

/* 412: the partner's ETag is not the one If-Match names. */
int ra_precondition_failed(ra_request_t *rq);

/* RFC 9110 13.2.2 against the current entity tag etag of the resource, in
 * its order: If-Match first (412 unless "*" or it names etag), then
 * If-None-Match ("*" or a list naming etag, compared weakly): 304 with the
 * ETag and no body for a read, 412 for a change. Returns OK when the
 * request may go on, else DONE once answered. */
int ra_check_preconditions(ra_request_t *rq, const char *etag, int read);

/* How often a write that lost a race with another is tried again before
 * the client is told to retry; each try is one read and one write. */
#define RA_MODIFY_ATTEMPTS 8

/* One try of a conditional write (ra_write_current): writes what it makes
 * of current, the version just read, only where that version is still the
 * stored one (its ETag in the statement's WHERE), under ra_write_lock;
 * RA_STORE_MISSING when another writer got there first. */
typedef ra_store_result_e (*ra_write_try_fn)(ra_request_t *rq, const ra_partner_t *current,
                                             void *baton, const char **error);

/* The optimistic write of the route's partner that PATCH, the actions and
 * DELETE share: reads it (404, 503), checks If-Match then If-None-Match
 * against the version read (412), and lets write try on that version; a
 * miss reads and checks again, up to RA_MODIFY_ATTEMPTS, then 409. what
 * names the change in answers and logs ("update", "delete"). Returns OK
 * once a try wrote, else DONE with the request answered. */
int ra_write_current(ra_request_t *rq, const char *what, ra_write_try_fn write, void *baton);

/* The bearer token, the tenant restriction and the caller's permission for
 * access: 401 or 403 with RFC 6750's WWW-Authenticate when refused. */
int ra_authorize(ra_request_t *rq, ra_access_e access);

/* 406 unless the Accept header admits media_type. */
int ra_negotiate(ra_request_t *rq, const char *media_type);

/* The request body as a JSON object, in the documented order: 415 for a
 * media type other than application/json, 406 unless Accept admits the
 * response's media type, 413 over RemoteAssistMaxBody (or LimitRequestBody),
 * 408 when the client stops sending, 400 for an empty body, invalid JSON, a
 * duplicate member or anything but an object. */
int ra_read_json_object(ra_request_t *rq, const char *response_type, json_t **object);

/* The same steps for a body parsed elsewhere ($batch): the media type, the
 * Accept header, a size limit of limit bytes, a non-empty body; the body
 * in *body (NUL-terminated), *len. */
int ra_read_json_body(ra_request_t *rq, const char *response_type, apr_off_t limit,
                      char **body, apr_size_t *len);

/* 400 when a request that takes no body (actions, DELETE) carries one. */
int ra_expect_no_body(ra_request_t *rq);

/* A pooled database connection in rq->conn: 1, or 0 with *error (logged). */
int ra_request_acquire(ra_request_t *rq, const char **error);

/* The clock of the operation's database time starts (ra_respond stops it). */
void ra_request_db_clock(ra_request_t *rq);

/* A pooled database connection in rq->conn, or 503. */
int ra_request_connect(ra_request_t *rq);

/* The cross-child SQLite writer lock around a write (NULL for PostgreSQL or
 * when it cannot be taken: SQLite's own locking still keeps the data safe).
 * Letting it go wakes a create waiting in the shared commit queue, which
 * found it taken. */
apr_global_mutex_t *ra_write_lock(ra_request_t *rq);
void ra_write_unlock(ra_request_t *rq, apr_global_mutex_t *lock);

#endif
