/* httpd glue: Update remoteAssistancePartner (PATCH), and the optimistic
 * read-modify-write that the actions share with it. */
#include "mod_ra_ops.h"

#include "http_log.h"
#include "http_protocol.h"

#include <apr_strings.h>

APLOG_USE_MODULE(remoteassist);

/* What ra_op_modify changes: how, and where the stored version goes. */
typedef struct {
    ra_audit_op_e op;
    ra_mutate_fn mutate;
    const void *baton;
    ra_partner_t *result;
} modify_t;

/* current changed by mutate under a new ETag; it lands only on the version
 * just read */
static ra_store_result_e replace_current(ra_request_t *rq, const ra_partner_t *current,
                                         void *baton, const char **error)
{
    modify_t *m = baton;
    *m->result = *current;
    m->mutate(rq, m->result, m->baton);
    m->result->etag = ra_entity_new_etag(rq->r->pool);
    const ra_audit_event_t *event = ra_audit_event(rq, m->op, current, m->result);
    apr_global_mutex_t *lock = ra_write_lock(rq);
    ra_store_result_e stored = ra_store_replace(rq->r->pool, &rq->conn, rq->token.tenant,
                                                m->result, current->etag, event, error);
    ra_write_unlock(rq, lock);
    return stored;
}

int ra_op_modify(ra_request_t *rq, ra_audit_op_e op, ra_mutate_fn mutate, const void *baton,
                 ra_partner_t *result)
{
    modify_t m = { op, mutate, baton, result };
    int rc;

    if ((rc = ra_request_connect(rq)) != OK) {
        return rc;
    }
    return ra_write_current(rq, "update", replace_current, &m);
}

static void apply_patch(ra_request_t *rq, ra_partner_t *partner, const void *patch)
{
    (void)rq;
    ra_entity_apply(partner, patch);
}

/* Prefer: return=minimal (RFC 7240, OData 8.2.8.7) asks for 204. */
static int prefers_minimal(request_rec *r)
{
    const char *prefer = apr_table_get(r->headers_in, "Prefer");
    char *state, *item;
    for (item = prefer ? apr_strtok(apr_pstrdup(r->pool, prefer), ",", &state) : NULL; item;
         item = apr_strtok(NULL, ",", &state)) {
        item += strspn(item, " \t");
        if (!strncasecmp(item, "return=minimal", 14) && strchr(" \t;", item[14] ? item[14] : ' ')) {
            return 1;
        }
    }
    return 0;
}

int ra_op_update(ra_request_t *rq)
{
    request_rec *r = rq->r;
    ra_partner_t patch, stored;
    const char *message;
    json_t *body;
    int rc;

    if ((rc = ra_read_json_object(rq, "application/json", &body)) != OK) {
        return rc;
    }
    int valid = ra_entity_decode(r->pool, rq->cfg->version, RA_DECODE_UPDATE, body, &patch,
                                 &message);
    json_decref(body);
    if (!valid) {
        return ra_fail(rq, HTTP_BAD_REQUEST, "BadRequest", message);
    }
    if ((patch.present & RA_PROP_BIT(RA_PROP_ID))
        && strcmp(patch.values[RA_PROP_ID], rq->route.id)) {
        return ra_fail(rq, HTTP_BAD_REQUEST, "BadRequest",
                       "Property 'id' is the key: it cannot be changed.");
    }
    if ((rc = ra_op_modify(rq, RA_AUDIT_PATCH, apply_patch, &patch, &stored)) != OK) {
        return rc;
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, RALOGNO(00022)
                  "request-id=%s updated id=%s tenant=%s", rq->request_id, rq->route.id,
                  rq->token.tenant);
    if (prefers_minimal(r)) {
        apr_table_setn(r->headers_out, "Preference-Applied", "return=minimal");
        apr_table_setn(r->headers_out, "ETag", ra_entity_etag_header(r->pool, stored.etag));
        rc = ra_respond(rq, HTTP_NO_CONTENT, NULL, NULL, 0);
    }
    else {
        rc = ra_respond_entity(rq, HTTP_OK, &stored);
    }
    ra_audit_maintain(rq);
    return rc;
}
