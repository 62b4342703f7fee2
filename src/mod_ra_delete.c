/* httpd glue: Delete remoteAssistancePartner. */
#include "mod_ra_ops.h"

#include "http_log.h"
#include "http_protocol.h"

#include <apr_strings.h>

APLOG_USE_MODULE(remoteassist);

/* The version read is the one deleted (and the one the preconditions were
 * checked against), so that its audit event shows what went; a concurrent write
 * makes the delete a miss and the loop reads again, as ra_op_modify. */
int ra_op_delete(ra_request_t *rq)
{
    request_rec *r = rq->r;
    const char *error;
    int rc;

    if ((rc = ra_expect_no_body(rq)) != OK || (rc = ra_request_connect(rq)) != OK) {
        return rc;
    }
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
        /* If-Match, then If-None-Match, against the version that goes */
        if ((rc = ra_check_preconditions(rq, current.etag, 0)) != OK) {
            return rc;
        }
        const ra_audit_event_t *event = ra_audit_event(rq, RA_AUDIT_DELETE, &current, NULL);
        apr_global_mutex_t *lock = ra_write_lock(rq);
        ra_store_result_e found = ra_store_delete(r->pool, &rq->conn, rq->token.tenant,
                                                  rq->route.id, current.etag, event, &error);
        ra_write_unlock(rq, lock);
        if (found == RA_STORE_DONE) {
            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, RALOGNO(00023)
                          "request-id=%s deleted id=%s tenant=%s", rq->request_id,
                          rq->route.id, rq->token.tenant);
            rc = ra_respond(rq, HTTP_NO_CONTENT, NULL, NULL, 0);
            ra_audit_maintain(rq);
            return rc;
        }
        if (found != RA_STORE_MISSING) { /* MISSING: it changed since the read */
            return ra_write_failed(rq, "delete", found, error);
        }
    }
    return ra_fail(rq, HTTP_CONFLICT, "Conflict",
                   "The remoteAssistancePartner kept changing while this request tried to "
                   "delete it; try again.");
}
