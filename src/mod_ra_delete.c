/* httpd glue: Delete remoteAssistancePartner. */
#include "mod_ra_ops.h"

#include "http_log.h"
#include "http_protocol.h"

#include <apr_strings.h>

APLOG_USE_MODULE(remoteassist);

int ra_op_delete(ra_request_t *rq)
{
    request_rec *r = rq->r;
    const char *if_match = apr_table_get(r->headers_in, "If-Match");
    const char *if_none_match = apr_table_get(r->headers_in, "If-None-Match");
    const char *expected = NULL, *error;
    ra_partner_t current;
    int rc;

    if ((rc = ra_expect_no_body(rq)) != OK || (rc = ra_request_connect(rq)) != OK) {
        return rc;
    }
    ra_store_result_e found = RA_STORE_DONE;
    if ((if_match && strcmp(if_match, "*")) || if_none_match) {
        /* only the version the preconditions were checked against may go */
        found = ra_store_get(r->pool, &rq->conn, rq->token.tenant, rq->route.id, &current,
                             &error);
        if (found == RA_STORE_DONE && (rc = ra_check_preconditions(rq, current.etag, 0)) != OK) {
            return rc;
        }
        expected = found == RA_STORE_DONE ? current.etag : NULL;
    }
    if (found == RA_STORE_DONE) {
        apr_global_mutex_t *lock = ra_write_lock(rq);
        found = ra_store_delete(r->pool, &rq->conn, rq->token.tenant, rq->route.id, expected,
                                &error);
        ra_write_unlock(lock);
    }
    if (found == RA_STORE_MISSING && expected) {
        /* it changed between the check and the delete, or went */
        found = ra_store_get(r->pool, &rq->conn, rq->token.tenant, rq->route.id, &current,
                             &error);
        if (found == RA_STORE_DONE) {
            return ra_precondition_failed(rq);
        }
    }
    switch (found) {
    case RA_STORE_DONE:
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, RALOGNO(00023)
                      "request-id=%s deleted id=%s tenant=%s", rq->request_id, rq->route.id,
                      rq->token.tenant);
        return ra_respond(rq, HTTP_NO_CONTENT, NULL, NULL, 0);
    case RA_STORE_MISSING:
        return ra_not_found(rq);
    default:
        return ra_unavailable(rq, "delete", error);
    }
}
