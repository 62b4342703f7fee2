/* httpd glue: Create remoteAssistancePartner (POST on the collection). */
#include "mod_ra_ops.h"

#include "http_log.h"
#include "http_protocol.h"

#include <string.h>

#include <apr_atomic.h>
#include <apr_strings.h>

#include "mod_ra_observe.h"
#include "ra_commit.h"
#include "ra_commit_shared.h"
#include "ra_odata.h"

APLOG_USE_MODULE(remoteassist);

/* The database as a group-commit leader reaches it: this request's pooled
 * connection, and the SQLite writer lock for the transaction. */
typedef struct {
    ra_request_t *rq;
    apr_global_mutex_t *lock;
} leader_t;

static int leader_acquire(void *baton, ra_store_conn_t *conn, const char **error)
{
    leader_t *leader = baton;
    if (!ra_request_acquire(leader->rq, error)) {
        return 0;
    }
    *conn = leader->rq->conn;
    leader->lock = ra_write_lock(leader->rq);
    return 1;
}

static void leader_release(void *baton)
{
    leader_t *leader = baton;
    ra_write_unlock(leader->rq, leader->lock);
}

/* The same for a committer of the shared queue: it tries the writer lock,
 * and takes its connection (shared_connect) only with the lock given back,
 * in the order of every other writer. */
static int shared_trylock(void *baton)
{
    static volatile apr_uint32_t told; /* RA00143 once per child */
    ra_request_t *rq = baton;
    apr_status_t rv = apr_global_mutex_trylock(ra_server_config(rq->r->server)->sqlite_writer);

    if (rv == APR_SUCCESS || APR_STATUS_IS_EBUSY(rv)) {
        return rv == APR_SUCCESS;
    }
    /* a lock that fails rather than being busy fails for every thread
     * (seen: a pthread mutex destroyed under an old child after a graceful
     * restart, EINVAL), and a row waiting for its holder would wait for
     * ever: the create commits on its own, as writers do without the lock */
    if (apr_atomic_cas32(&told, 1, 0) == 0) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, rq->r, RALOGNO(00143)
                      "request-id=%s the %s mutex failed: this child's creates commit "
                      "without the shared queue, its writers through SQLite's busy "
                      "handler (see the Mutex directive)", rq->request_id, RA_SQLITE_MUTEX);
    }
    return -1;
}

static void shared_unlock(void *baton)
{
    ra_request_t *rq = baton;
    apr_global_mutex_unlock(ra_server_config(rq->r->server)->sqlite_writer);
}

static int shared_connect(void *baton, ra_store_conn_t *conn, const char **error)
{
    ra_request_t *rq = baton;
    if (!ra_request_acquire(rq, error)) {
        return 0;
    }
    *conn = rq->conn;
    return 1;
}

/* Stores the row: with the queue every child shares (SQLite), this child's
 * group-commit queue, or on its own. */
static ra_store_result_e store(ra_request_t *rq, ra_commit_item_t *item)
{
    const ra_server_config_t *scfg = ra_server_config(rq->r->server);
    leader_t leader = { rq, NULL };
    const char *error = NULL;

    ra_request_db_clock(rq);
    if (scfg->commit_shared) {
        ra_commit_shared_access_t access = { shared_trylock, shared_unlock, shared_connect, rq };
        if (ra_commit_shared_submit(scfg->commit_shared, item, &access, rq->r->pool)) {
            if (item->reports_batch) {
                ra_metrics_observe_batch(ra_observe_metrics(), item->batch_size);
            }
            if (item->recommitted) {
                ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, rq->r, RALOGNO(00142)
                              "request-id=%s: %d queued create(s) whose committing child "
                              "died mid-batch were committed again, in a batch of %d",
                              rq->request_id, item->recommitted, item->batch_size);
            }
            return item->result;
        }
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, rq->r, RALOGNO(00141)
                      "request-id=%s: the shared commit queue is full, the row larger "
                      "than its slots (RemoteAssistCommitQueue) or the writer lock failed: "
                      "it commits without it",
                      rq->request_id);
    }
    if (scfg->commit_queue) {
        ra_commit_access_t access = { leader_acquire, leader_release, &leader };
        ra_commit_submit(scfg->commit_queue, item, &access, rq->r->pool);
        if (item->reports_batch) {
            ra_metrics_observe_batch(ra_observe_metrics(), item->batch_size);
        }
        return item->result;
    }
    item->batch_size = 1;
    ra_metrics_observe_batch(ra_observe_metrics(), 1);
    if (!leader_acquire(&leader, &rq->conn, &error)) {
        apr_cpystrn(item->error, error, sizeof(item->error));
        return RA_STORE_FAILED;
    }
    const ra_store_row_t *row = &item->row;
    ra_store_insert_batch(rq->r->pool, &rq->conn, &row, 1, &item->result, &error);
    leader_release(&leader);
    apr_cpystrn(item->error, error ? error : "", sizeof(item->error));
    return item->result;
}

int ra_op_create(ra_request_t *rq)
{
    request_rec *r = rq->r;
    ra_partner_t partner;
    ra_commit_item_t item;
    const char *message;
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
        partner.values[RA_PROP_ID] = ra_odata_new_time_guid(r->pool);
    }
    partner.etag = ra_entity_new_etag(r->pool);
    memset(&item, 0, sizeof(item));
    item.row.tenant = rq->token.tenant;
    item.row.partner = &partner;
    item.row.version = rq->cfg->version;
    /* the event rides in the row's transaction (its batch's, in group commit) */
    item.row.event = ra_audit_event(rq, RA_AUDIT_CREATE, NULL, &partner);
    ra_store_result_e stored = store(rq, &item);
    switch (stored) {
    case RA_STORE_DONE:
        break;
    case RA_STORE_CONFLICT: /* within the caller's tenant only: ids are per tenant */
        return ra_fail(rq, HTTP_CONFLICT, "Conflict",
                       apr_psprintf(r->pool, "A remoteAssistancePartner with id '%s' "
                                    "already exists.", partner.values[RA_PROP_ID]));
    default:
        return ra_write_failed(rq, "insert", stored, item.error);
    }
    apr_table_setn(r->headers_out, "Location",
                   ra_odata_entity_url(r->pool, rq->service_root, partner.values[RA_PROP_ID]));
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, RALOGNO(00020)
                  "request-id=%s created id=%s tenant=%s version=%s batch=%d status=201",
                  rq->request_id, partner.values[RA_PROP_ID], rq->token.tenant,
                  ra_version_name(rq->cfg->version), item.batch_size);
    rc = ra_respond_entity(rq, HTTP_CREATED, &partner);
    ra_audit_maintain(rq);
    return rc;
}
