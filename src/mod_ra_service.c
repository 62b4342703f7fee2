/* httpd glue: the service root's own resources under each served version
 * root: $metadata (built once per version at start-up, served from
 * memory), the service document and the deviceManagement singleton. */
#include "mod_ra_ops.h"
#include "mod_ra_hooks.h"

#include "http_log.h"
#include "http_protocol.h"

#include <apr_strings.h>

#include "ra_csdl.h"
#include "ra_odata.h"

APLOG_USE_MODULE(remoteassist);

/* Indexed by ra_version_e and by whether the root serves audit events
 * (RemoteAssistAuditEvents is per <Location>, so both are built: four small
 * documents, and each root's $metadata describes exactly what it serves);
 * set at post_config in the parent, before any child exists, and only read
 * by requests. */
static const ra_csdl_t *metadata[RA_VERSION_BETA + 1][2];

int ra_service_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                           server_rec *s)
{
    (void)plog;
    (void)ptemp;
    for (int v = RA_VERSION_V1; v <= RA_VERSION_BETA; v++) {
        for (int audit = 0; audit <= 1; audit++) {
            /* never a failed start (the rest of the site serves): that
             * $metadata answers 503 instead, and the entity set serves */
            if (!(metadata[v][audit] = ra_csdl_build(pconf, (ra_version_e)v, audit))) {
                ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, RALOGNO(00150)
                             "the %s $metadata document could not be built (out of memory); "
                             "it answers 503 until the next restart",
                             ra_version_name((ra_version_e)v));
            }
        }
    }
    return OK;
}

/* CSDL XML unless $format or the Accept header asks for JSON alone:
 * "Accept: application/json" gets CSDL JSON, as OData's JSON clients ask;
 * no Accept, "* / *" or both types listed get the XML every OData
 * consumer reads. */
int ra_op_metadata(ra_request_t *rq)
{
    request_rec *r = rq->r;
    const ra_csdl_t *csdl = metadata[rq->cfg->version][!rq->cfg->audit_off];
    const char *accept = apr_table_get(r->headers_in, "Accept");
    int json, rc;

    if (!csdl) { /* RA00150 at start-up */
        return ra_unavailable_known(rq, "its $metadata document could not be built at start-up "
                                    "(RA00150)");
    }
    if (rq->query.format) {
        json = rq->query.format_json;
    }
    else {
        int xml_ok = ra_odata_accepts(r->pool, accept, "application/xml");
        json = !xml_ok && ra_odata_accepts(r->pool, accept, "application/json");
        if (!xml_ok && !json) {
            return ra_negotiate(rq, "application/xml");
        }
    }
    if ((rc = ra_check_preconditions(rq, csdl->etag, 1)) != OK) {
        return rc;
    }
    apr_table_setn(r->headers_out, "ETag", ra_entity_etag_header(r->pool, csdl->etag));
    return json ? ra_respond(rq, HTTP_OK, "application/json;charset=utf-8", csdl->json,
                             csdl->json_len)
                : ra_respond(rq, HTTP_OK, "application/xml;charset=utf-8", csdl->xml,
                             csdl->xml_len);
}

const char *ra_service_metadata_url(apr_pool_t *pool, const char *service_root)
{
    return apr_pstrcat(pool, service_root, "/$metadata", NULL);
}

/* OData's service document: the one singleton this service answers. */
int ra_op_service_document(ra_request_t *rq)
{
    ra_jw_t *jw;
    int rc;
    if ((rc = ra_negotiate(rq, "application/json")) != OK) {
        return rc;
    }
    jw = ra_body(rq);
    ra_jw_object_open(jw);
    /* the one control information a service document keeps at none too */
    ra_jw_member_string(jw, "@odata.context",
                        ra_service_metadata_url(rq->r->pool, rq->service_root));
    ra_jw_name(jw, "value");
    ra_jw_array_open(jw);
    ra_jw_object_open(jw);
    ra_jw_member_string(jw, "name", "deviceManagement");
    ra_jw_member_string(jw, "kind", "Singleton");
    ra_jw_member_string(jw, "url", "deviceManagement");
    ra_jw_object_close(jw);
    ra_jw_array_close(jw);
    ra_jw_object_close(jw);
    return ra_respond_written(rq, HTTP_OK);
}

/* The singleton as far as this module knows it: one per tenant, its key
 * the caller's tenant id; its only other member, the partners, is a
 * containment navigation property, which OData does not inline. */
int ra_op_device_management(ra_request_t *rq)
{
    apr_pool_t *pool = rq->r->pool;
    ra_jw_t *jw;
    int rc;
    if ((rc = ra_negotiate(rq, "application/json")) != OK) {
        return rc;
    }
    jw = ra_body(rq);
    ra_jw_object_open(jw);
    ra_jw_annotation(jw, RA_JW_METADATA_MINIMAL, "@odata.context",
                     apr_pstrcat(pool, ra_service_metadata_url(pool, rq->service_root),
                                 "#deviceManagement", NULL));
    ra_jw_annotation(jw, RA_JW_METADATA_FULL, "@odata.id",
                     apr_pstrcat(pool, rq->service_root, "/deviceManagement", NULL));
    ra_jw_annotation(jw, RA_JW_METADATA_FULL, "remoteAssistancePartners@odata.navigationLink",
                     ra_odata_collection_url(pool, rq->service_root));
    ra_jw_member_string(jw, "id", rq->token.tenant);
    ra_jw_object_close(jw);
    return ra_respond_written(rq, HTTP_OK);
}
