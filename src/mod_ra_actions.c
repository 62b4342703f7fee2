/* httpd glue: the bound actions beginOnboarding and disconnect (POST, no
 * body, 204). The resource is one whatever version is asked, so both set
 * onboardingRequestExpiryDateTime, which only beta shows. */
#include "mod_ra_ops.h"

#include "http_log.h"
#include "http_protocol.h"

#include <apr_strings.h>
#include <apr_time.h>

APLOG_USE_MODULE(remoteassist);

/* now + the section's onboarding window, as Graph writes instants: UTC with
 * seven fraction digits */
static const char *expiry_after_window(ra_request_t *rq)
{
    apr_time_exp_t t;
    apr_time_exp_gmt(&t, rq->r->request_time + apr_time_from_sec(rq->cfg->onboarding_window));
    return apr_psprintf(rq->r->pool, "%04d-%02d-%02dT%02d:%02d:%02d.%07dZ", t.tm_year + 1900,
                        t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec,
                        t.tm_usec * 10);
}

static void begin_onboarding(ra_request_t *rq, ra_partner_t *partner, const void *baton)
{
    (void)baton;
    partner->values[RA_PROP_ONBOARDING_STATUS] = "onboarding";
    partner->values[RA_PROP_EXPIRY] = expiry_after_window(rq);
}

static void disconnect(ra_request_t *rq, ra_partner_t *partner, const void *baton)
{
    (void)rq, (void)baton;
    partner->values[RA_PROP_ONBOARDING_STATUS] = "notOnboarded";
    partner->values[RA_PROP_EXPIRY] = RA_ENTITY_DATETIME_UNSET;
}

static int run_action(ra_request_t *rq, const char *name, ra_audit_op_e op,
                      ra_mutate_fn mutate)
{
    ra_partner_t stored;
    int rc;

    if ((rc = ra_expect_no_body(rq)) != OK
        || (rc = ra_op_modify(rq, op, mutate, NULL, &stored)) != OK) {
        return rc;
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, rq->r, RALOGNO(00024)
                  "request-id=%s %s id=%s tenant=%s status=%s", rq->request_id, name,
                  rq->route.id, rq->token.tenant, stored.values[RA_PROP_ONBOARDING_STATUS]);
    rc = ra_respond(rq, HTTP_NO_CONTENT, NULL, NULL, 0);
    ra_audit_maintain(rq);
    return rc;
}

int ra_op_begin_onboarding(ra_request_t *rq)
{
    return run_action(rq, "beginOnboarding", RA_AUDIT_BEGIN_ONBOARDING, begin_onboarding);
}

int ra_op_disconnect(ra_request_t *rq)
{
    return run_action(rq, "disconnect", RA_AUDIT_DISCONNECT, disconnect);
}
