/* httpd glue: the audit events. Every successful change writes its event
 * in its own transaction (the store does, given the event made here); this
 * serves them read-only at {root}/deviceManagement/auditEvents, and keeps
 * their retention in bounded steps after a write's answer is sent. */
#include "mod_ra_ops.h"

#include "http_log.h"
#include "http_protocol.h"

#include <apr_atomic.h>
#include <apr_strings.h>

#include "mod_ra_hooks.h"
#include "ra_odata.h"
#include "ra_sql.h"

APLOG_USE_MODULE(remoteassist);

const ra_audit_event_t *ra_audit_event(ra_request_t *rq, ra_audit_op_e op,
                                       const ra_partner_t *before, const ra_partner_t *after)
{
    const ra_token_result_t *token = &rq->token;
    ra_audit_actor_t actor = { 0 };

    if (rq->cfg->audit_off) {
        return NULL;
    }
    actor.application = token->application;
    actor.user_id = token->application ? NULL : token->caller;
    actor.upn = token->upn;
    actor.app_id = token->app_id;
    actor.ip_address = rq->r->useragent_ip;
    actor.permissions = token->scopes;
    if (token->application) {
        actor.permissions = token->roles->nelts
                            ? apr_array_pstrcat(rq->r->pool, token->roles, ' ') : NULL;
    }
    return ra_audit_event_make(rq->r->pool, op, token->tenant, &actor,
                               ra_audit_correlation_id(rq->r->pool, rq->client_request_id,
                                                       rq->request_id),
                               rq->r->request_time, before, after);
}

/* When this child last took a retention step, in seconds since the epoch. */
static apr_uint32_t last_maintained;

/* A child's first write takes a step at once: last_maintained starts at 0.
 * rq->conn is unset on a create whose row another thread's batch wrote. */
void ra_audit_maintain(ra_request_t *rq)
{
    apr_uint32_t now = (apr_uint32_t)apr_time_sec(apr_time_now());
    apr_uint32_t last = apr_atomic_read32(&last_maintained);
    int days = ra_server_config(rq->r->server)->audit_retention;
    const char *error;
    int removed;

    if (rq->cfg->audit_off || !rq->conn.driver || now - last < RA_AUDIT_PURGE_INTERVAL
        || apr_atomic_cas32(&last_maintained, now, last) != last) {
        return; /* a step was taken lately, or another thread takes it */
    }
    days = days > 0 ? days : RA_AUDIT_DEFAULT_RETENTION_DAYS;
    apr_global_mutex_t *lock = ra_write_lock(rq);
    ra_store_result_e result = ra_store_audit_purge(
        rq->r->pool, &rq->conn, ra_audit_ticks(apr_time_now() - apr_time_from_sec(
                                                   (apr_time_t)days * 86400)),
        RA_AUDIT_PURGE_BATCH, &removed, &error);
    ra_write_unlock(rq, lock);
    if (result != RA_STORE_DONE) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, rq->r, RALOGNO(00220)
                      "request-id=%s audit retention: removing expired events failed "
                      "(tried again in %d s): %s", rq->request_id, RA_AUDIT_PURGE_INTERVAL,
                      error);
    }
    else if (removed > 0) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, rq->r, RALOGNO(00221)
                      "request-id=%s audit retention: removed %d events older than %d days",
                      rq->request_id, removed, days);
    }
}

static const char *audit_context(ra_request_t *rq, const char *suffix)
{
    return apr_pstrcat(rq->r->pool, rq->service_root, "/$metadata#deviceManagement/auditEvents",
                       suffix, NULL);
}

/* The sort key values of event, in query's order. */
static void event_keys(const ra_query_t *query, const ra_audit_event_t *event,
                       ra_key_value_t *keys)
{
    const char *by_prop[RA_AUDIT_PROP_COUNT];
    for (int i = 0; i < RA_AUDIT_PROP_COUNT; i++) {
        by_prop[i] = ra_audit_prop_value(event, i);
    }
    ra_sql_key_values(query, by_prop, keys);
}

/* A $skiptoken whose sort keys were too long to keep (two of the longer
 * ones, such as activityType and correlationId) holds the id of the
 * previous page's last event: its keys are read again from that event, as
 * the partners' are (mod_ra_read.c). Only retention removes an event. */
static int reread_anchor(ra_request_t *rq)
{
    ra_audit_event_t anchor;
    const char *error;

    switch (ra_store_audit_get(rq->r->pool, &rq->conn, rq->token.tenant,
                               ra_query_after_id(&rq->query), &anchor, &error)) {
    case RA_STORE_DONE:
        event_keys(&rq->query, &anchor, rq->query.after);
        return OK;
    case RA_STORE_MISSING:
        return ra_fail(rq, HTTP_BAD_REQUEST, "BadRequest",
                       "Invalid $skiptoken: the last auditEvent of the previous page was "
                       "removed since, and its sort keys were too long for the token to hold; "
                       "list again from the first page.");
    default:
        return ra_unavailable(rq, "audit read", error);
    }
}

/* One page, continued by an @odata.nextLink with a $skiptoken, as the
 * partners' list (mod_ra_read.c). */
int ra_op_audit_list(ra_request_t *rq)
{
    request_rec *r = rq->r;
    const ra_query_t *query = &rq->query;
    apr_int64_t page = rq->cfg->page_size, count = 0;
    apr_array_header_t *rows;
    const char *error;
    int rc;

    const char *key = ra_startup_token_key(r);
    if ((rc = ra_negotiate(rq, "application/json")) != OK
        || (rc = ra_request_connect(rq)) != OK) {
        return rc;
    }
    if (!key) { /* a database that is ready has its key: not reached */
        return ra_unavailable_known(rq, "no $skiptoken key for this database");
    }
    /* a position is served only from a token this deployment signed */
    if (!ra_query_skiptoken_verify(query, key)) {
        return ra_fail(rq, HTTP_BAD_REQUEST, "BadRequest", RA_QUERY_INVALID_SKIPTOKEN);
    }
    if (query->after_reread && (rc = reread_anchor(rq)) != OK) {
        return rc;
    }
    if (query->top >= 0 && query->top < page) {
        page = query->top;
    }
    ra_store_result_e result = ra_store_audit_list(r->pool, &rq->conn, rq->token.tenant, query,
                                                   page + 1, query->skip > 0 ? query->skip : 0,
                                                   &rows, &error);
    if (result == RA_STORE_DONE && query->count) {
        result = ra_store_audit_count(r->pool, &rq->conn, rq->token.tenant, query->filter,
                                      &count, &error);
    }
    if (result == RA_STORE_TIMED_OUT) {
        return ra_query_timed_out(rq, "audit list");
    }
    if (result != RA_STORE_DONE) {
        return ra_unavailable(rq, "audit list", error);
    }
    ra_jw_t *jw = ra_body(rq);
    ra_jw_object_open(jw);
    ra_jw_annotation(jw, RA_JW_METADATA_MINIMAL, "@odata.context", audit_context(rq, ""));
    if (query->count) {
        ra_jw_member_integer(jw, "@odata.count", count);
    }
    int more = rows->nelts > page;
    rows->nelts = (int)(more ? page : rows->nelts);
    ra_jw_name(jw, "value");
    ra_jw_array_open(jw);
    for (int i = 0; i < rows->nelts; i++) {
        ra_audit_event_write(jw, &APR_ARRAY_IDX(rows, i, ra_audit_event_t), NULL);
    }
    ra_jw_array_close(jw);
    if (more && page > 0) { /* $top=0: no next page */
        ra_key_value_t keys[RA_PROP_COUNT];
        event_keys(query, &APR_ARRAY_IDX(rows, rows->nelts - 1, ra_audit_event_t), keys);
        const char *next = ra_query_next_args(r->pool, query,
                                              ra_query_skiptoken(r->pool, query, keys, key));
        ra_jw_member_string(jw, "@odata.nextLink",
                            apr_pstrcat(r->pool, rq->service_root, RA_ROUTE_AUDIT_PATH "?",
                                        next, NULL));
    }
    ra_jw_object_close(jw);
    return ra_respond_written(rq, HTTP_OK);
}

static int audit_not_found(ra_request_t *rq)
{
    return ra_fail(rq, HTTP_NOT_FOUND, "ResourceNotFound",
                   apr_psprintf(rq->r->pool, "No auditEvent with id '%s'.", rq->route.id));
}

int ra_op_audit_get(ra_request_t *rq)
{
    ra_audit_event_t event;
    const char *error;
    int rc;

    if ((rc = ra_negotiate(rq, "application/json")) != OK) {
        return rc;
    }
    if (!ra_audit_id_valid(rq->route.id)) { /* no event has it: no need to look */
        return audit_not_found(rq);
    }
    if ((rc = ra_request_connect(rq)) != OK) {
        return rc;
    }
    switch (ra_store_audit_get(rq->r->pool, &rq->conn, rq->token.tenant, rq->route.id, &event,
                               &error)) {
    case RA_STORE_DONE:
        ra_audit_event_write(ra_body(rq), &event, audit_context(rq, "/$entity"));
        return ra_respond_written(rq, HTTP_OK);
    case RA_STORE_MISSING:
        return audit_not_found(rq);
    default:
        return ra_unavailable(rq, "audit read", error);
    }
}

/* getAuditCategories() and getAuditActivityTypes(): Collection(Edm.String). */
int ra_op_audit_function(ra_request_t *rq)
{
    int rc;
    if ((rc = ra_negotiate(rq, "application/json")) != OK) {
        return rc;
    }
    ra_jw_t *jw = ra_body(rq);
    ra_jw_object_open(jw);
    ra_jw_annotation(jw, RA_JW_METADATA_MINIMAL, "@odata.context",
                     apr_pstrcat(rq->r->pool, rq->service_root,
                                 "/$metadata#Collection(Edm.String)", NULL));
    ra_jw_name(jw, "value");
    if (rq->route.kind == RA_ROUTE_AUDIT_CATEGORIES) {
        ra_audit_categories_write(jw);
    }
    else {
        ra_audit_activity_types_write(jw);
    }
    ra_jw_object_close(jw);
    return ra_respond_written(rq, HTTP_OK);
}
