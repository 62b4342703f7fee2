/* httpd glue: the operations of the entity set, one unit per family. Each
 * runs after the dispatcher has routed, authorized and parsed the query
 * (rq->route, rq->token, rq->query), and answers the request: it returns
 * DONE, or AP_FILTER_ERROR when httpd answered for it. */
#ifndef MOD_RA_OPS_H
#define MOD_RA_OPS_H

#include "mod_ra_request.h"

/* mod_ra_create.c */
int ra_op_create(ra_request_t *rq);

/* mod_ra_read.c */
int ra_op_list(ra_request_t *rq);
int ra_op_count(ra_request_t *rq);
int ra_op_get(ra_request_t *rq);

/* mod_ra_update.c: PATCH, and the read-modify-write the actions share */
int ra_op_update(ra_request_t *rq);

/* Changes the route's partner with mutate under optimistic concurrency: the
 * write only lands on the version that was read (and If-Match named, if
 * the client sent one), else it is read again; its audit event (op, the
 * version read and the one written) in the same transaction. Answers 404,
 * 412 or 503 itself (returning DONE); returns OK with the stored partner in
 * *result. */
typedef void (*ra_mutate_fn)(ra_request_t *rq, ra_partner_t *partner, const void *baton);
int ra_op_modify(ra_request_t *rq, ra_audit_op_e op, ra_mutate_fn mutate, const void *baton,
                 ra_partner_t *result);

/* mod_ra_delete.c */
int ra_op_delete(ra_request_t *rq);

/* mod_ra_actions.c */
int ra_op_begin_onboarding(ra_request_t *rq);
int ra_op_disconnect(ra_request_t *rq);

/* mod_ra_service.c: the service root's own resources */
int ra_op_metadata(ra_request_t *rq);
int ra_op_service_document(ra_request_t *rq);
int ra_op_device_management(ra_request_t *rq);

/* {root}/$metadata */
const char *ra_service_metadata_url(apr_pool_t *pool, const char *service_root);

/* mod_ra_audit.c: the audit events (read-only), and what every change
 * writes with them */
int ra_op_audit_list(ra_request_t *rq);
int ra_op_audit_get(ra_request_t *rq);
int ra_op_audit_function(ra_request_t *rq);

/* The event of op for the request's change (before NULL for a create,
 * after NULL for a delete), or NULL when the section writes none
 * (RemoteAssistAuditEvents Off). */
const ra_audit_event_t *ra_audit_event(ra_request_t *rq, ra_audit_op_e op,
                                       const ra_partner_t *before, const ra_partner_t *after);

/* After a successful audited write, once the client has its answer: at
 * most one bounded step of retention per child per RA_AUDIT_PURGE_INTERVAL
 * on the request's connection. */
void ra_audit_maintain(ra_request_t *rq);
/* mod_ra_batch.c: POST {root}/$batch */
int ra_op_batch(ra_request_t *rq);

/* mod_ra_dispatch.c: runs an inner $batch request (a subrequest that
 * httpd's access checks passed, rq->capture set) as the handler runs an
 * outside one: route, method, token, query options, operation; refused
 * when it is not the module's or names another version root than batch. */
int ra_dispatch_inner(ra_request_t *rq, const ra_request_t *batch);

#endif
