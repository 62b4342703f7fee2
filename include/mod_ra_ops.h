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
 * the client sent one), else it is read again. Answers 404, 412 or 503
 * itself (returning DONE); returns OK with the stored partner in *result. */
typedef void (*ra_mutate_fn)(ra_request_t *rq, ra_partner_t *partner, const void *baton);
int ra_op_modify(ra_request_t *rq, ra_mutate_fn mutate, const void *baton,
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


#endif
