/* httpd glue: the steps every operation shares. */
#include "mod_ra_request.h"

#include "http_core.h"
#include "httpd.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include <apr_dbd.h>
#include "mod_dbd.h"
#include "util_filter.h"

#include <apr_strings.h>

#include "mod_ra_hooks.h"
#include "mod_ra_observe.h"
#include "mod_ra_keys.h"
#include "ra_commit_shared.h"
#include "ra_dbd.h"
#include "ra_odata.h"

APLOG_USE_MODULE(remoteassist);

/* mod_dbd's functions are optional, so a configuration without mod_dbd gets
 * this module's explanation instead of an unresolved symbol. Set once after
 * the modules are loaded, only read by requests. */
static APR_OPTIONAL_FN_TYPE(ap_dbd_acquire) *dbd_acquire;

void ra_request_retrieve_optional_fns(void)
{
    dbd_acquire = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_acquire);
}

void ra_request_init(ra_request_t *rq, request_rec *r)
{
    const char *client_id = apr_table_get(r->headers_in, "client-request-id");

    memset(rq, 0, sizeof(*rq));
    rq->r = r;
    rq->cfg = ra_dir_config(r);
    rq->request_id = ra_odata_new_guid(r->pool);
    r->log_id = rq->request_id; /* ErrorLogFormat/LogFormat %L show it */
    rq->client_request_id = ra_odata_client_request_id_ok(client_id) ? client_id
                                                                       : rq->request_id;
    rq->metadata = RA_JW_METADATA_MINIMAL;
}

/* Graph's headers, and the metrics' database time, for any answer. */
static void set_headers(ra_request_t *rq, int status)
{
    request_rec *r = rq->r;

    if (rq->db_start) {
        ra_metrics_observe_db_time(ra_observe_metrics(), rq->operation,
                                   apr_time_now() - rq->db_start);
    }
    r->status = status;
    apr_table_setn(r->headers_out, "request-id", rq->request_id);
    apr_table_setn(r->headers_out, "client-request-id", rq->client_request_id);
    apr_table_setn(r->headers_out, "OData-Version", "4.0");
    if (apr_table_get(r->headers_in, "Origin")) {
        apr_table_setn(r->headers_out, "Access-Control-Allow-Origin", "*");
        apr_table_setn(r->headers_out, "Access-Control-Expose-Headers",
                       "Location, ETag, Preference-Applied, request-id, "
                       "client-request-id, OData-Version");
    }
}

/* An inner $batch request's answer, kept for the batch's response. */
static int capture(ra_request_t *rq, int status, const char *content_type, const char *body,
                   apr_size_t len)
{
    rq->capture->status = status;
    rq->capture->content_type = body ? content_type : NULL;
    rq->capture->body = body;
    rq->capture->len = body ? len : 0;
    return DONE;
}

int ra_respond(ra_request_t *rq, int status, const char *content_type,
               const char *body, apr_size_t len)
{
    request_rec *r = rq->r;

    set_headers(rq, status);
    if (rq->capture) {
        return capture(rq, status, content_type, body, len);
    }
    if (body) {
        ap_set_content_type(r, content_type);
        ap_set_content_length(r, (apr_off_t)len);
        ap_rwrite(body, (int)len, r);
    }
    /* Send now: otherwise httpd first tries to read a pipelined request and
     * only then writes the buffered response (measured 1.3-2.3x slower). */
    ap_rflush(r);
    return DONE;
}

/* The writer's sink: the body's brigade, which holds the output until it is
 * complete, so it gets a Content-Length and a failure half way can still
 * answer an error instead. */
static apr_status_t brigade_sink(void *baton, const char *data, apr_size_t len)
{
    return apr_brigade_write(baton, NULL, NULL, data, len);
}

ra_jw_t *ra_body(ra_request_t *rq)
{
    if (!rq->body) {
        rq->body = apr_brigade_create(rq->r->pool, rq->r->connection->bucket_alloc);
        rq->jw = apr_palloc(rq->r->pool, sizeof(*rq->jw));
    }
    else {
        apr_brigade_cleanup(rq->body);
    }
    ra_jw_init(rq->jw, brigade_sink, rq->body);
    rq->jw->metadata = rq->metadata;
    return rq->jw;
}

void ra_body_discard(ra_request_t *rq)
{
    if (rq->body) {
        apr_brigade_cleanup(rq->body);
    }
}

int ra_respond_written(ra_request_t *rq, int status)
{
    request_rec *r = rq->r;
    apr_status_t rv = ra_jw_finish(rq->jw);
    apr_off_t length = 0;

    if (rv != APR_SUCCESS) { /* a bug of the writer's caller, or out of memory */
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, RALOGNO(00130)
                      "request-id=%s the response body could not be written", rq->request_id);
        ra_body_discard(rq);
        return ra_fail(rq, HTTP_INTERNAL_SERVER_ERROR, "InternalServerError",
                       ra_odata_status_message(HTTP_INTERNAL_SERVER_ERROR));
    }
    if (rq->jw->replaced) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, RALOGNO(00131)
                      "request-id=%s the response held %" APR_SIZE_T_FMT " bytes that are "
                      "not UTF-8 (stored so by another writer of the database?): "
                      "answered as U+FFFD", rq->request_id, rq->jw->replaced);
    }
    set_headers(rq, status);
    if (rq->capture) {
        char *body;
        apr_size_t len;
        apr_brigade_pflatten(rq->body, &body, &len, r->pool);
        return capture(rq, status, ra_odata_content_type(rq->metadata), body, len);
    }
    ap_set_content_type(r, ra_odata_content_type(rq->metadata));
    apr_brigade_length(rq->body, 1, &length);
    ap_set_content_length(r, length);
    /* flushed now, as ra_respond does */
    APR_BRIGADE_INSERT_TAIL(rq->body, apr_bucket_flush_create(rq->body->bucket_alloc));
    ap_pass_brigade(r->output_filters, rq->body);
    return DONE;
}

int ra_respond_entity(ra_request_t *rq, int status, const ra_partner_t *partner)
{
    request_rec *r = rq->r;
    const char *context = ra_odata_context_url(r->pool, rq->service_root, rq->cfg->version,
                                               rq->query.select, 1);
    apr_table_setn(r->headers_out, "ETag", ra_entity_etag_header(r->pool, partner->etag));
    ra_entity_write(ra_body(rq), partner, rq->cfg->version, rq->query.select, context,
                    ra_odata_collection_url(r->pool, rq->service_root));
    return ra_respond_written(rq, status);
}

/* A Graph error, logged at level. */
static int fail_at(ra_request_t *rq, int level, int status, const char *code,
                   const char *message)
{
    apr_size_t len;
    char *body = ra_odata_error_body(rq->r->pool, code, message, rq->request_id,
                                     rq->client_request_id, apr_time_now(), &len);
    ap_log_rerror(APLOG_MARK, level, 0, rq->r, RALOGNO(00030) "request-id=%s status=%d code=%s",
                  rq->request_id, status, code);
    return ra_respond(rq, status, RA_ODATA_CONTENT_TYPE, body, len);
}

int ra_fail(ra_request_t *rq, int status, const char *code, const char *message)
{
    /* 501 answers what the client sent (a transfer coding), not a fault here */
    int ours = status >= 500 && status != HTTP_NOT_IMPLEMENTED;
    return fail_at(rq, ours ? APLOG_ERR : APLOG_DEBUG, status, code, message);
}

/* 503 with Retry-After: what a client retries on its own. */
static int fail_unavailable(ra_request_t *rq, int level, const char *message)
{
    apr_table_setn(rq->r->headers_out, "Retry-After", RA_RETRY_AFTER);
    return fail_at(rq, level, HTTP_SERVICE_UNAVAILABLE, "ServiceNotAvailable", message);
}

int ra_unavailable_known(ra_request_t *rq, const char *why)
{
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, rq->r, RALOGNO(00072)
                  "request-id=%s answered 503: %s", rq->request_id, why);
    return fail_unavailable(rq, APLOG_DEBUG, "The service is unavailable; try again later.");
}

#define STORE_UNAVAILABLE "The partner store is unavailable; try again later."

int ra_unavailable(ra_request_t *rq, const char *what, const char *error)
{
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, rq->r, RALOGNO(00041)
                  "request-id=%s %s failed: %s", rq->request_id, what, error);
    return fail_unavailable(rq, APLOG_ERR, STORE_UNAVAILABLE);
}

int ra_write_failed(ra_request_t *rq, const char *what, ra_store_result_e result,
                    const char *error)
{
    if (result != RA_STORE_UNREPLICATED) {
        return ra_unavailable(rq, what, error);
    }
    /* a warning: the primary is well; a standby (or the bound) is not */
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, rq->r, RALOGNO(00101)
                  "request-id=%s %s not confirmed by a synchronous standby: %s; answered "
                  "503", rq->request_id, what, error);
    return fail_unavailable(rq, APLOG_DEBUG, STORE_UNAVAILABLE);
}

int ra_query_timed_out(ra_request_t *rq, const char *what)
{
    /* a warning: the store is well, this query asked too much of it */
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, rq->r, RALOGNO(00090)
                  "request-id=%s %s stopped after RemoteAssistQueryTimeout (%d ms); "
                  "answered 503", rq->request_id, what, rq->cfg->query_timeout);
    ra_observe_db_timeout();
    return fail_unavailable(rq, APLOG_DEBUG,
                            "The query took longer than this service allows; narrow its "
                            "$filter or try again later.");
}

int ra_not_found(ra_request_t *rq)
{
    return ra_fail(rq, HTTP_NOT_FOUND, "ResourceNotFound",
                   apr_psprintf(rq->r->pool, "No remoteAssistancePartner has the id '%s'.",
                                rq->route.id));
}

int ra_precondition_failed(ra_request_t *rq)
{
    return ra_fail(rq, HTTP_PRECONDITION_FAILED, "PreconditionFailed",
                   "The remoteAssistancePartner was changed since the ETag in If-Match was "
                   "read; read it again.");
}

int ra_check_preconditions(ra_request_t *rq, const char *etag, int read)
{
    request_rec *r = rq->r;
    const char *if_match = apr_table_get(r->headers_in, "If-Match");
    const char *if_none_match = apr_table_get(r->headers_in, "If-None-Match");

    if (if_match && !ra_entity_if_match(if_match, etag)) {
        return ra_precondition_failed(rq);
    }
    if (!if_none_match || !ra_entity_if_match(if_none_match, etag)) {
        return OK;
    }
    if (read) {
        apr_table_setn(r->headers_out, "ETag", ra_entity_etag_header(r->pool, etag));
        return ra_respond(rq, HTTP_NOT_MODIFIED, NULL, NULL, 0);
    }
    return ra_fail(rq, HTTP_PRECONDITION_FAILED, "PreconditionFailed",
                   "If-None-Match names this resource ('*' or its current ETag): nothing "
                   "was changed.");
}

int ra_write_current(ra_request_t *rq, const char *what, ra_write_try_fn write, void *baton)
{
    request_rec *r = rq->r;
    const char *error;
    int rc;

    for (int attempt = 0; attempt < RA_MODIFY_ATTEMPTS; attempt++) {
        ra_partner_t current;
        switch (ra_store_get(r->pool, &rq->conn, rq->token.tenant, rq->route.id, &current,
                             &error)) {
        case RA_STORE_DONE:
            break;
        case RA_STORE_MISSING:
            return ra_not_found(rq);
        default:
            return ra_unavailable(rq, "read", error);
        }
        /* If-Match, then If-None-Match, against the version the write
         * lands on: checked again after each miss */
        if ((rc = ra_check_preconditions(rq, current.etag, 0)) != OK) {
            return rc;
        }
        ra_store_result_e written = write(rq, &current, baton, &error);
        if (written == RA_STORE_DONE) {
            return OK;
        }
        if (written != RA_STORE_MISSING) { /* MISSING: it changed since the read */
            return ra_write_failed(rq, what, written, error);
        }
        if (attempt + 1 < RA_MODIFY_ATTEMPTS) {
            /* a random pause, doubling up to a bound: writers that keep
             * meeting spread out, and one that was slow between its read
             * and its write (a busy CPU) is not beaten every time by those
             * that were not (seen: 8 losses in a row among 6 PATCHes) */
            apr_interval_time_t bound = apr_time_from_msec(1) << (attempt < 5 ? attempt : 5);
            apr_sleep((apr_interval_time_t)ap_random_pick(0, (apr_uint32_t)bound));
        }
    }
    return ra_fail(rq, HTTP_CONFLICT, "Conflict",
                   apr_psprintf(r->pool, "The remoteAssistancePartner kept changing while "
                                "this request tried to %s it; try again.", what));
}

/* ------------------------------------------------------------- the token */

/* 401 or 403 for a token that failed, with RFC 6750's WWW-Authenticate. */
static int fail_token(ra_request_t *rq, ra_token_status_e status, ra_access_e access)
{
    request_rec *r = rq->r;
    const ra_token_result_t *token = &rq->token;
    const char *realm = ap_escape_quotes(r->pool, ap_get_server_name(r));
    int forbidden = ra_token_status_is_forbidden(status);

    ra_metrics_count_auth_refusal(ra_observe_metrics(), (int)status);
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, RALOGNO(00031)
                  "request-id=%s token refused: %s (%s; alg=%s kid=%s)", rq->request_id,
                  ra_token_status_name(status), token->reason,
                  token->alg ? token->alg : "-", token->kid ? token->kid : "-");
    if (status == RA_TOKEN_MISSING) {
        apr_table_setn(r->headers_out, "WWW-Authenticate",
                       apr_psprintf(r->pool, "Bearer realm=\"%s\"", realm));
    }
    else if (status == RA_TOKEN_NO_PERMISSION) {
        apr_table_setn(r->headers_out, "WWW-Authenticate",
                       apr_psprintf(r->pool, "Bearer realm=\"%s\", error=\"insufficient_scope\", "
                                    "scope=\"%s\"", realm, ra_token_permission(access)));
    }
    else if (!forbidden) {
        apr_table_setn(r->headers_out, "WWW-Authenticate",
                       apr_psprintf(r->pool, "Bearer realm=\"%s\", error=\"invalid_token\", "
                                    "error_description=\"%s\"", realm,
                                    ap_escape_quotes(r->pool, token->reason)));
    }
    if (forbidden) {
        return ra_fail(rq, HTTP_FORBIDDEN, "Authorization_RequestDenied",
                       apr_pstrcat(r->pool, "Insufficient privileges to complete the "
                                   "operation: ", token->reason, ".", NULL));
    }
    return ra_fail(rq, HTTP_UNAUTHORIZED, "InvalidAuthenticationToken",
                   status == RA_TOKEN_MISSING ? "Access token is empty."
                   : apr_pstrcat(r->pool, "Access token validation failure: ",
                                 token->reason, ".", NULL));
}

static int listed(const apr_array_header_t *list, const char *value)
{
    for (int i = 0; i < list->nelts; i++) {
        if (!strcmp(APR_ARRAY_IDX(list, i, const char *), value)) {
            return 1;
        }
    }
    return 0;
}

/* Keys from a URL: the snapshot's, and the discovery document's issuer
 * unless the section names its own. */
static const ra_keyset_t *snapshot_keys(const ra_fetched_keys_t *snap,
                                        const ra_dir_config_t *cfg, ra_token_policy_t *policy)
{
    policy->issuers = cfg->issuers ? cfg->issuers : snap->issuers;
    return snap->keys;
}

int ra_authorize(ra_request_t *rq, ra_access_e access)
{
    request_rec *r = rq->r;
    const ra_dir_config_t *cfg = rq->cfg;
    const char *header = apr_table_get(r->headers_in, "Authorization");
    ra_token_policy_t policy = { ra_config_audiences(r->pool, cfg), cfg->issuers,
                                 cfg->leeway };
    const ra_keyset_t *keys = cfg->keys;
    const ra_fetched_keys_t *snap = NULL;
    ra_token_cache_t *cache = ra_server_config(r->server)->token_cache;
    ra_token_status_e status;
    const char *reason;

    if (!cfg->keys && !cfg->key_url) { /* ra_config_check catches this for plain <Location>s */
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, RALOGNO(00032)
                      "request-id=%s no RemoteAssistTokenKey applies to %s",
                      rq->request_id, r->uri);
        return ra_fail(rq, HTTP_INTERNAL_SERVER_ERROR, "InternalServerError",
                       "The service is not configured to verify tokens.");
    }
    const char *token = ra_token_from_authorization(r->pool, header);
    if (!token && header) {
        rq->token.reason = "the Authorization header is not 'Bearer <JWT>'";
        return fail_token(rq, RA_TOKEN_MALFORMED, access);
    }
    if (cfg->key_url) {
        if (!(snap = ra_keys_current(r, cfg->key_url))) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, RALOGNO(00057)
                          "request-id=%s no keys from %s yet (see RA00052)", rq->request_id,
                          ra_keys_source_name(cfg->key_url));
            return fail_unavailable(rq, APLOG_ERR, "The keys that verify access tokens have "
                                    "not been fetched yet; try again later.");
        }
        keys = snapshot_keys(snap, cfg, &policy);
    }
    status = ra_token_verify_cached(r->pool, cache, keys, &policy, token, r->request_time,
                                    &rq->token);
    if (cache && token) {
        ra_metrics_count_token_cache(ra_observe_metrics(), rq->token.cached);
    }
    /* a key the identity provider has published since the last refresh */
    if (status == RA_TOKEN_UNKNOWN_KEY && snap
        && (snap = ra_keys_after_unknown_kid(r, cfg->key_url, snap, rq->request_id))) {
        keys = snapshot_keys(snap, cfg, &policy);
        status = ra_token_verify_cached(r->pool, cache, keys, &policy, token,
                                        r->request_time, &rq->token);
    }
    if (status != RA_TOKEN_OK) {
        return fail_token(rq, status, access);
    }
    if (cfg->tenants && !listed(cfg->tenants, rq->token.tenant)) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, RALOGNO(00034)
                      "request-id=%s tenant %s is not among RemoteAssistTenant",
                      rq->request_id, rq->token.tenant);
        ra_metrics_count_auth_refusal(ra_observe_metrics(), RA_METRIC_TENANT_REFUSED);
        return ra_fail(rq, HTTP_FORBIDDEN, "Authorization_RequestDenied",
                       "Insufficient privileges to complete the operation: this service "
                       "does not serve the token's tenant.");
    }
    status = ra_token_authorize(&rq->token, access, cfg->version == RA_VERSION_BETA, &reason);
    if (status != RA_TOKEN_OK) {
        rq->token.reason = reason;
        return fail_token(rq, status, access);
    }
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, RALOGNO(00033)
                  "request-id=%s token ok: alg=%s kid=%s tenant=%s caller=%s %s%s",
                  rq->request_id, rq->token.alg, rq->token.kid ? rq->token.kid : "-",
                  rq->token.tenant, rq->token.caller ? rq->token.caller : "-",
                  rq->token.application ? "application" : "delegated",
                  rq->token.cached ? " (cached)" : "");
    return OK;
}

/* -------------------------------------------------------------- the body */

int ra_negotiate(ra_request_t *rq, const char *media_type)
{
    if (rq->query.format) { /* $format overrides Accept (OData 4.0 part 2, 11.2.10) */
        if (rq->query.format_json && !strcmp(media_type, "application/json")) {
            return OK;
        }
        return ra_fail(rq, HTTP_NOT_ACCEPTABLE, "NotAcceptable",
                       apr_pstrcat(rq->r->pool, "The response is ", media_type,
                                   ", which $format excludes.", NULL));
    }
    if (ra_odata_accepts(rq->r->pool, apr_table_get(rq->r->headers_in, "Accept"),
                         media_type)) {
        return OK;
    }
    return ra_fail(rq, HTTP_NOT_ACCEPTABLE, "NotAcceptable",
                   apr_pstrcat(rq->r->pool, "The response is ", media_type,
                               ", which the Accept header excludes.", NULL));
}

/* A refusal after which the rest of the body must not be read: httpd would
 * otherwise discard it before the next request on the connection. */
static int fail_reading(ra_request_t *rq, int status, const char *message)
{
    if (!rq->capture) { /* an inner $batch request's body was read with the batch */
        rq->r->connection->keepalive = AP_CONN_CLOSE;
    }
    return ra_fail(rq, status, ra_odata_status_code(status), message);
}

/* RFC 9112 6.1: chunked once, last; httpd's input filter dechunks and would
 * pass any other coding through undecoded, so those are refused here: an
 * unknown coding with 501, chunked twice with 400. */
static int transfer_coding_refused(ra_request_t *rq)
{
    const char *codings = apr_table_get(rq->r->headers_in, "Transfer-Encoding");
    char *state, *coding;
    int chunked = 0;

    for (coding = codings ? apr_strtok(apr_pstrdup(rq->r->pool, codings), ",", &state) : NULL;
         coding; coding = apr_strtok(NULL, ",", &state)) {
        coding += strspn(coding, " \t");
        coding[strcspn(coding, " \t;")] = '\0';
        if (strcasecmp(coding, "chunked")) {
            return fail_reading(rq, HTTP_NOT_IMPLEMENTED,
                                apr_psprintf(rq->r->pool, "Transfer-Encoding '%.32s' is not "
                                             "supported; send the body as is or chunked.",
                                             coding));
        }
        chunked++;
    }
    return chunked > 1 ? fail_reading(rq, HTTP_BAD_REQUEST, "The chunked transfer coding "
                                      "may be applied once only.")
                       : OK;
}

static int too_large(ra_request_t *rq, apr_off_t limit)
{
    return fail_reading(rq, HTTP_REQUEST_ENTITY_TOO_LARGE,
                        apr_psprintf(rq->r->pool, "The request body exceeds %" APR_OFF_T_FMT
                                     " bytes.", limit));
}

/* Reads the whole body into *body (NUL-terminated), through the input
 * filters, so that their refusals keep their meaning: LimitRequestBody is
 * 413 at any size, a read timeout (mod_reqtimeout) 408, and a malformed
 * chunk an error httpd answers itself (AP_FILTER_ERROR; see the error
 * filter in mod_ra_dispatch.c for its Graph body). */
static int read_body(ra_request_t *rq, apr_off_t limit, char **body, apr_size_t *len)
{
    request_rec *r = rq->r;
    apr_off_t declared;
    const char *content_length = apr_table_get(r->headers_in, "Content-Length");
    apr_bucket_brigade *bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    char *end;
    int eos = 0, rc;

    if (rq->capture) { /* an inner $batch request: the body came with the batch */
        if ((apr_off_t)rq->inner_body_len > limit) {
            return too_large(rq, limit);
        }
        *body = apr_pstrmemdup(r->pool, rq->inner_body ? rq->inner_body : "",
                               rq->inner_body_len);
        *len = rq->inner_body_len;
        return OK;
    }
    if ((rc = transfer_coding_refused(rq)) != OK) {
        return rc;
    }
    if (content_length && apr_strtoff(&declared, content_length, &end, 10) == APR_SUCCESS
        && !*end && declared > limit) {
        return too_large(rq, limit); /* without reading a byte of it */
    }
    *body = apr_palloc(r->pool, (apr_size_t)limit + 1);
    *len = 0;
    while (!eos) {
        apr_status_t rv = ap_get_brigade(r->input_filters, bb, AP_MODE_READBYTES,
                                         APR_BLOCK_READ, HUGE_STRING_LEN);
        if (rv != APR_SUCCESS) {
            int status = ap_map_http_request_error(rv, HTTP_BAD_REQUEST);
            apr_brigade_cleanup(bb);
            if (status == AP_FILTER_ERROR) {
                return AP_FILTER_ERROR; /* a filter answered the request already */
            }
            return fail_reading(rq, status, ra_odata_status_message(status));
        }
        for (apr_bucket *b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb);
             b = APR_BUCKET_NEXT(b)) {
            const char *data;
            apr_size_t n;
            if (APR_BUCKET_IS_EOS(b)) {
                eos = 1;
                break;
            }
            if (APR_BUCKET_IS_METADATA(b)) {
                continue;
            }
            rv = apr_bucket_read(b, &data, &n, APR_BLOCK_READ);
            if (rv != APR_SUCCESS) {
                apr_brigade_cleanup(bb);
                return fail_reading(rq, HTTP_BAD_REQUEST, "The request body could not be read.");
            }
            if ((apr_off_t)(*len + n) > limit) {
                apr_brigade_cleanup(bb);
                return too_large(rq, limit);
            }
            memcpy(*body + *len, data, n);
            *len += n;
        }
        apr_brigade_cleanup(bb);
    }
    (*body)[*len] = '\0';
    return OK;
}

int ra_read_json_body(ra_request_t *rq, const char *response_type, apr_off_t limit,
                      char **body, apr_size_t *len)
{
    request_rec *r = rq->r;
    int rc;

    if (!ra_odata_is_json(r->pool, apr_table_get(r->headers_in, "Content-Type"))) {
        return ra_fail(rq, HTTP_UNSUPPORTED_MEDIA_TYPE, "UnsupportedMediaType",
                       "The request body must be application/json (UTF-8).");
    }
    if ((rc = ra_negotiate(rq, response_type)) != OK
        || (rc = read_body(rq, limit, body, len)) != OK) {
        return rc;
    }
    if (*len == 0) {
        return ra_fail(rq, HTTP_BAD_REQUEST, "BadRequest",
                       "Empty Payload, JSON content expected.");
    }
    return OK;
}

int ra_read_json_object(ra_request_t *rq, const char *response_type, json_t **object)
{
    request_rec *r = rq->r;
    json_error_t jerr;
    char *body;
    apr_size_t len;
    int rc;

    if ((rc = ra_read_json_body(rq, response_type, rq->cfg->max_body, &body, &len)) != OK) {
        return rc;
    }
    *object = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!*object) {
        return ra_fail(rq, HTTP_BAD_REQUEST, "BadRequest",
                       apr_psprintf(r->pool, "Invalid JSON at line %d, column %d: %s.",
                                    jerr.line, jerr.column, jerr.text));
    }
    if (!json_is_object(*object)) {
        json_decref(*object);
        return ra_fail(rq, HTTP_BAD_REQUEST, "BadRequest",
                       "The request body must be a JSON object (a remoteAssistancePartner).");
    }
    return OK;
}

int ra_expect_no_body(ra_request_t *rq)
{
    char *body;
    apr_size_t len;
    int rc;

    if (rq->capture ? !rq->inner_body : !ap_request_has_body(rq->r)) {
        return OK;
    }
    if ((rc = read_body(rq, rq->cfg->max_body, &body, &len)) != OK) {
        return rc;
    }
    /* nothing, or an empty JSON object, which some clients send for "no
     * parameters"; anything else would be ignored, so it is refused */
    json_t *json = len ? json_loadb(body, len, 0, NULL) : NULL;
    int empty = strspn(body, " \t\r\n") == len /* not a NUL that ends it early */
                || (json_is_object(json) && json_object_size(json) == 0);
    json_decref(json);
    return empty ? OK : ra_fail(rq, HTTP_BAD_REQUEST, "BadRequest",
                                "This request takes no body.");
}

/* ------------------------------------------------------------ the store */

int ra_request_acquire(ra_request_t *rq, const char **error)
{
    request_rec *r = rq->r;
    ap_dbd_t *dbd = dbd_acquire ? dbd_acquire(r) : NULL;

    if (!dbd) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, RALOGNO(00040)
                      "request-id=%s no database connection (see mod_dbd's messages)",
                      rq->request_id);
        *error = "no database connection";
        return 0;
    }
    ra_startup_connection_ready(r, dbd);
    rq->conn.driver = dbd->driver;
    rq->conn.handle = dbd->handle;
    rq->conn.pool = dbd->pool;
    rq->conn.prepared = dbd->prepared;
    rq->conn.query_timeout = apr_time_from_msec(rq->cfg->query_timeout);
    return 1;
}

void ra_request_db_clock(ra_request_t *rq)
{
    rq->db_start = apr_time_now();
}

int ra_request_connect(ra_request_t *rq)
{
    const char *error;
    ra_request_db_clock(rq);
    /* ra_request_acquire logged why */
    return ra_request_acquire(rq, &error) ? OK
           : fail_unavailable(rq, APLOG_ERR, STORE_UNAVAILABLE);
}

apr_global_mutex_t *ra_write_lock(ra_request_t *rq)
{
    apr_global_mutex_t *lock = ra_dbd_dialect(apr_dbd_name(rq->conn.driver)) == RA_DIALECT_SQLITE
                               ? ra_server_config(rq->r->server)->sqlite_writer : NULL;
    if (lock && apr_global_mutex_lock(lock) != APR_SUCCESS) {
        lock = NULL;
    }
    return lock;
}

void ra_write_unlock(ra_request_t *rq, apr_global_mutex_t *lock)
{
    ra_commit_shared_t *queue = ra_server_config(rq->r->server)->commit_shared;
    if (lock) {
        apr_global_mutex_unlock(lock);
        if (queue) { /* creates that queued meanwhile found the lock taken */
            ra_commit_shared_nudge(queue);
        }
    }
}
