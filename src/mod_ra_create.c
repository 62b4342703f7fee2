/* httpd glue: Create remoteAssistancePartner (POST on the collection). */
#include "mod_ra_ops.h"

#include "http_log.h"
#include "http_protocol.h"

#include <apr_strings.h>

#include "ra_odata.h"

APLOG_USE_MODULE(remoteassist);

int ra_op_create(ra_request_t *rq)
{
    request_rec *r = rq->r;
    ra_partner_t partner;
    const char *message, *error;
    json_t *body;
    int rc;

    if ((rc = ra_read_json_object(rq, "application/json", &body)) != OK) {
        return rc;
    }
    int valid = ra_entity_decode(r->pool, rq->cfg->version, RA_DECODE_CREATE, body,
                                 &partner, &message);
    json_decref(body);
    if (!valid) {
        return ra_fail(rq, HTTP_BAD_REQUEST, "BadRequest", message);
    }
    if (!partner.values[RA_PROP_ID]) {
        partner.values[RA_PROP_ID] = ra_odata_new_guid(r->pool);
    }
    partner.etag = ra_entity_new_etag(r->pool);
    if ((rc = ra_request_connect(rq)) != OK) {
        return rc;
    }
    apr_global_mutex_t *lock = ra_write_lock(rq);
    ra_store_result_e stored = ra_store_insert(r->pool, &rq->conn, rq->token.tenant, &partner,
                                               rq->cfg->version, &error);
    ra_write_unlock(lock);
    switch (stored) {
    case RA_STORE_DONE:
        break;
    case RA_STORE_CONFLICT: /* within the caller's tenant only: ids are per tenant */
        return ra_fail(rq, HTTP_CONFLICT, "Conflict",
                       apr_psprintf(r->pool, "A remoteAssistancePartner with id '%s' "
                                    "already exists.", partner.values[RA_PROP_ID]));
    default:
        return ra_unavailable(rq, "insert", error);
    }
    apr_table_setn(r->headers_out, "Location",
                   ra_odata_entity_url(r->pool, rq->service_root, partner.values[RA_PROP_ID]));
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, RALOGNO(00020)
                  "request-id=%s created id=%s tenant=%s version=%s status=201",
                  rq->request_id, partner.values[RA_PROP_ID], rq->token.tenant,
                  ra_version_name(rq->cfg->version));
    return ra_respond_entity(rq, HTTP_CREATED, &partner);
}
