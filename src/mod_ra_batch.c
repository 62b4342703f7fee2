/* httpd glue: Graph's JSON $batch (POST {root}/$batch).
 *
 * The body is parsed and checked as a whole first (src/ra_batch.c): a bad
 * batch runs nothing. Each inner request then runs in this process as an
 * httpd subrequest of the batch: httpd's URL mapping and the access
 * configuration of the <Location> its URL falls in (Require ip, Require
 * method, <Limit>, authentication) decide on it as on a request sent alone,
 * and the module's dispatcher routes, authorizes (the batch's token) and
 * validates it as it does an outside request. Only the module's handler ever
 * runs for it, never another module's (no proxy, no file), and its answer is
 * captured for the batch's response instead of sent. Each inner operation
 * finishes (a write commits) before the next one starts. */
#include "mod_ra_ops.h"

#include "http_config.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"

#include <apr_strings.h>

#include "ra_batch.h"
#include "ra_odata.h"

APLOG_USE_MODULE(remoteassist);

/* Headers of the batch an inner request does not inherit: those of the
 * batch's own body, its conditions and preferences, and its id. */
static const char *const not_inherited[] = {
    "Content-Length", "Transfer-Encoding", "Content-Type", "Content-Encoding", "Expect",
    "If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since", "If-Range",
    "Prefer", "client-request-id", NULL
};

/* Headers an inner request may not set: the batch's credentials are its
 * credentials, and what describes the connection or a proxy in front is
 * the batch's. */
static const char *const not_settable[] = {
    "Authorization", "Proxy-Authorization", "Cookie", "Host", "Content-Length",
    "Transfer-Encoding", "Connection", "Expect", "Upgrade", "TE", "Forwarded",
    "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", NULL
};

static int listed(const char *const *names, const char *name)
{
    for (int i = 0; names[i]; i++) {
        if (!strcasecmp(names[i], name)) {
            return 1;
        }
    }
    return 0;
}

typedef struct {
    ra_request_t *rq;               /* the batch */
    const char *root_path;          /* its version root */
    ap_conf_vector_t *lookalike;    /* its configuration, under another pointer */
    ra_batch_response_t responses[RA_BATCH_MAX_REQUESTS];
} batch_run_t;

static apr_table_t *inner_headers(request_rec *r, const ra_batch_request_t *step)
{
    apr_table_t *headers = apr_table_copy(r->pool, r->headers_in);
    for (int i = 0; not_inherited[i]; i++) {
        apr_table_unset(headers, not_inherited[i]);
    }
    for (int i = 0; i < step->header_count; i++) {
        if (!listed(not_settable, step->headers[i].name)) {
            apr_table_set(headers, step->headers[i].name, step->headers[i].value);
        }
    }
    return headers;
}

/* httpd skips a subrequest's access checks when its merged configuration
 * is its parent's (server/request.c, ap_process_request_internal), taking
 * the batch's success for its own. But an inner request may meet other
 * rules than the POST of the batch did (<Limit GET>, Require method,
 * Require expr on its URL), so while it is made the batch shows an equal
 * configuration under another pointer, and the checks always run. The
 * inner request's headers (the batch's token, not its body's) are in place
 * for them, as httpd copies the parent's headers into a subrequest. */
static request_rec *make_subrequest(batch_run_t *run, const ra_batch_request_t *step,
                                    const char *uri)
{
    request_rec *r = run->rq->r, *sub;
    apr_table_t *headers = r->headers_in;
    ap_conf_vector_t *config = r->per_dir_config;

    r->headers_in = inner_headers(r, step);
    r->per_dir_config = run->lookalike;
    sub = ap_sub_req_method_uri(step->method, uri, r, NULL);
    r->headers_in = headers;
    r->per_dir_config = config;
    return sub;
}

typedef struct {
    apr_pool_t *pool;
    apr_array_header_t *headers;
} header_copy_t;

static int copy_header(void *baton, const char *name, const char *value)
{
    header_copy_t *copy = baton;
    if (strcasecmp(name, "Content-Type") && strcasecmp(name, "Content-Length")) {
        ra_batch_header_t *h = apr_array_push(copy->headers);
        h->name = apr_pstrdup(copy->pool, name);
        h->value = apr_pstrdup(copy->pool, value);
    }
    return 1;
}

/* The captured answer, copied into the batch's pool before the
 * subrequest's is destroyed. */
static void keep_answer(apr_pool_t *pool, request_rec *sub, const ra_capture_t *capture,
                        ra_batch_response_t *out)
{
    header_copy_t copy = { pool, apr_array_make(pool, 8, sizeof(ra_batch_header_t)) };
    apr_table_do(copy_header, &copy, sub->err_headers_out, NULL);
    apr_table_do(copy_header, &copy, sub->headers_out, NULL);
    out->status = capture->status;
    out->headers = (ra_batch_header_t *)copy.headers->elts;
    out->header_count = copy.headers->nelts;
    out->content_type = capture->content_type ? apr_pstrdup(pool, capture->content_type)
                                              : NULL;
    out->body = apr_pstrmemdup(pool, capture->body ? capture->body : "", capture->len);
    out->body_len = capture->len;
}

/* A Graph error for an inner request that never ran (a url that leaves
 * the service root, a failed dependency): nothing was looked up for it. */
static void inner_error(batch_run_t *run, int status, const char *code, const char *message,
                        ra_batch_response_t *out)
{
    apr_pool_t *pool = run->rq->r->pool;
    const char *request_id = ra_odata_new_guid(pool);
    ra_batch_header_t *h = apr_pcalloc(pool, 2 * sizeof(*h));

    h[0].name = "request-id";
    h[0].value = request_id;
    h[1].name = "client-request-id";
    h[1].value = request_id;
    out->status = status;
    out->headers = h;
    out->header_count = 2;
    out->content_type = RA_ODATA_CONTENT_TYPE;
    out->body = ra_odata_error_body(pool, code, message, request_id, request_id,
                                    apr_time_now(), &out->body_len);
}

static void run_step(batch_run_t *run, const ra_batch_request_t *step,
                     ra_batch_response_t *out)
{
    request_rec *r = run->rq->r, *sub;
    const char *message, *uri = ra_batch_url_path(r->pool, run->root_path, step->url, &message);
    ra_capture_t capture = { 0 };
    ra_request_t rq;

    if (!uri) {
        inner_error(run, HTTP_BAD_REQUEST, "BadRequest", message, out);
        return;
    }
    sub = make_subrequest(run, step, uri);
    ra_request_init(&rq, sub);
    rq.capture = &capture;
    rq.inner_body = step->body;
    rq.inner_body_len = step->body_len;
    if (sub->status != HTTP_OK) { /* httpd refused it: its access checks, its URL */
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, RALOGNO(00170)
                      "request-id=%s batch request %s answered %d by httpd",
                      run->rq->request_id, rq.request_id, sub->status);
        if (ap_is_HTTP_ERROR(sub->status)) {
            ra_fail(&rq, sub->status, ra_odata_status_code(sub->status),
                    ra_odata_status_message(sub->status));
        }
        else {
            ra_respond(&rq, sub->status, NULL, NULL, 0);
        }
    }
    else {
        ra_dispatch_inner(&rq, run->rq);
    }
    keep_answer(r->pool, sub, &capture, out);
    ap_destroy_sub_req(sub);
}

int ra_op_batch(ra_request_t *rq)
{
    request_rec *r = rq->r;
    apr_off_t limit = rq->cfg->max_body * RA_BATCH_MAX_REQUESTS;
    batch_run_t run;
    ra_batch_t batch;
    const char *message;
    char *body;
    apr_size_t len;
    int rc, failed = 0;

    /* each inner body is bounded by RemoteAssistMaxBody on its own */
    if ((rc = ra_read_json_body(rq, "application/json",
                                limit < RA_MAX_BODY_LIMIT ? limit : RA_MAX_BODY_LIMIT,
                                &body, &len)) != OK) {
        return rc;
    }
    if (!ra_batch_parse(r->pool, body, len, &batch, &message)) {
        return ra_fail(rq, HTTP_BAD_REQUEST, "BadRequest", message);
    }
    memset(&run, 0, sizeof(run));
    run.rq = rq;
    run.root_path = rq->route.root_path;
    run.lookalike = ap_merge_per_dir_configs(r->pool, r->server->lookup_defaults,
                                             r->per_dir_config);
    for (int n = 0; n < batch.count; n++) {
        int i = batch.order[n];
        const ra_batch_request_t *step = &batch.requests[i];
        ra_batch_response_t *out = &run.responses[i];
        const ra_batch_request_t *failed_on = NULL;

        out->id = step->id;
        for (int d = 0; d < step->depends_count && !failed_on; d++) {
            if (run.responses[step->depends_on[d]].status >= 400) {
                failed_on = &batch.requests[step->depends_on[d]];
            }
        }
        if (failed_on) {
            inner_error(&run, HTTP_FAILED_DEPENDENCY, "FailedDependency",
                        apr_psprintf(r->pool, "The request '%.64s' it depends on failed.",
                                     failed_on->id), out);
        }
        else {
            run_step(&run, step, out);
        }
        failed += out->status >= 400;
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, RALOGNO(00171)
                  "request-id=%s batch of %d requests: %d failed", rq->request_id,
                  batch.count, failed);
    ra_batch_write_responses(ra_body(rq), r->pool, run.responses, batch.count);
    return ra_respond_written(rq, HTTP_OK);
}
