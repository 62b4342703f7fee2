/* httpd glue: Delete remoteAssistancePartner. */
#include "mod_ra_ops.h"

#include "http_log.h"
#include "http_protocol.h"

#include <apr_strings.h>

APLOG_USE_MODULE(remoteassist);

/* The version read is the one deleted (and the one the preconditions were
 * checked against), so that its audit event shows what went. */
static ra_store_result_e delete_current(ra_request_t *rq, const ra_partner_t *current,
                                        void *baton, const char **error)
{
    (void)baton;
    const ra_audit_event_t *event = ra_audit_event(rq, RA_AUDIT_DELETE, current, NULL);
    apr_global_mutex_t *lock = ra_write_lock(rq);
    ra_store_result_e found = ra_store_delete(rq->r->pool, &rq->conn, rq->token.tenant,
                                              rq->route.id, current->etag, event, error);
    ra_write_unlock(rq, lock);
    return found;
}

int ra_op_delete(ra_request_t *rq)
{
    request_rec *r = rq->r;
    int rc;

    if ((rc = ra_expect_no_body(rq)) != OK || (rc = ra_request_connect(rq)) != OK
        || (rc = ra_write_current(rq, "delete", delete_current, NULL)) != OK) {
        return rc;
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, RALOGNO(00023)
                  "request-id=%s deleted id=%s tenant=%s", rq->request_id,
                  rq->route.id, rq->token.tenant);
    rc = ra_respond(rq, HTTP_NO_CONTENT, NULL, NULL, 0);
    ra_audit_maintain(rq);
    return rc;
}
