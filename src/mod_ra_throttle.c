/* httpd glue: throttling's directives, the table's segment and the checks
 * (see mod_ra_throttle.h for their order, ra_throttle.h for the buckets and
 * the table's locking rule).
 *
 * The segment is anonymous shared memory in the process pool, as the
 * metrics' is: made by the parent at the first real post_config, inherited
 * by every child it forks, and kept over graceful and plain restarts (a
 * tenant that was throttled stays throttled through a reload), unless
 * RemoteAssistThrottleTable changed: then a fresh table starts with full
 * buckets. During a graceful restart the old generation's children and the
 * new one's charge the same table under its in-segment lock. */
#include "mod_ra_throttle.h"

#include "http_log.h"
#include "http_protocol.h"
#include "http_core.h"

#include <apr_shm.h>
#include <apr_strings.h>

#include "mod_ra_config.h"
#include "mod_ra_hooks.h"
#include "mod_ra_observe.h"
#include "ra_throttle.h"

APLOG_USE_MODULE(remoteassist);

#define SEGMENT_KEY "remoteassist-throttle"

/* Set by post_config in the parent (before the children fork), only read
 * afterwards; table NULL: throttling is off (or had no memory). */
static ra_throttle_t *table;
static ra_throttle_limits_t limits;

/* ------------------------------------------------------------ directives */

/* The main server's, made from the defaults when first set. */
static ra_throttle_limits_t *configured_limits(cmd_parms *cmd)
{
    ra_server_config_t *sconf = ra_server_config(cmd->server);
    if (!sconf->throttle_limits) {
        sconf->throttle_limits = apr_palloc(cmd->pool, sizeof(*sconf->throttle_limits));
        ra_throttle_default_limits(sconf->throttle_limits);
    }
    return sconf->throttle_limits;
}

static const char *number(cmd_parms *cmd, const char *arg, long min, long max, const char *what,
                          int *value)
{
    char *end;
    long n = strtol(arg, &end, 10);
    if (!*arg || *end || n < min || n > max) {
        return apr_psprintf(cmd->pool, "%s: %s must be a number from %ld to %ld, not '%s'",
                            cmd->cmd->name, what, min, max, arg);
    }
    *value = (int)n;
    return NULL;
}

/* REQUESTS SECONDS into rate (REQUESTS 0: no limit). */
static const char *rate_of(cmd_parms *cmd, const char *requests, const char *seconds,
                           ra_throttle_rate_t *rate)
{
    const char *error = number(cmd, requests, 0, RA_THROTTLE_MAX_LIMIT, "REQUESTS", &rate->limit);
    return error ? error : number(cmd, seconds, 1, RA_THROTTLE_MAX_WINDOW, "SECONDS",
                                  &rate->window);
}

const char *ra_throttle_set_on(cmd_parms *cmd, void *dcfg, int on)
{
    const char *error = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    (void)dcfg;
    if (!error) {
        ra_server_config(cmd->server)->throttle_off = !on;
    }
    return error;
}

/* tenant|app read|write|all REQUESTS SECONDS */
const char *ra_throttle_set_limit(cmd_parms *cmd, void *dcfg, int argc, char *const argv[])
{
    const char *error = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    ra_throttle_rate_t rate, *pair;
    (void)dcfg;
    if (error) {
        return error;
    }
    if (argc != 4) {
        return "RemoteAssistThrottleLimit takes tenant|app read|write|all REQUESTS SECONDS";
    }
    if (!strcasecmp(argv[0], "tenant")) {
        pair = configured_limits(cmd)->tenant;
    }
    else if (!strcasecmp(argv[0], "app")) {
        pair = configured_limits(cmd)->app;
    }
    else {
        return apr_psprintf(cmd->pool, "RemoteAssistThrottleLimit: the key is tenant or app, "
                            "not '%s'", argv[0]);
    }
    int read = !strcasecmp(argv[1], "read"), write = !strcasecmp(argv[1], "write");
    if (!read && !write && strcasecmp(argv[1], "all")) {
        return apr_psprintf(cmd->pool, "RemoteAssistThrottleLimit: the requests are read, "
                            "write or all, not '%s'", argv[1]);
    }
    if ((error = rate_of(cmd, argv[2], argv[3], &rate))) {
        return error;
    }
    if (!write) {
        pair[RA_THROTTLE_READ] = rate;
    }
    if (!read) {
        pair[RA_THROTTLE_WRITE] = rate;
    }
    return NULL;
}

const char *ra_throttle_set_failed_auth(cmd_parms *cmd, void *dcfg, const char *requests,
                                        const char *seconds)
{
    const char *error = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    (void)dcfg;
    return error ? error : rate_of(cmd, requests, seconds, &configured_limits(cmd)->failed_auth);
}

const char *ra_throttle_set_table(cmd_parms *cmd, void *dcfg, const char *entries)
{
    const char *error = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    (void)dcfg;
    return error ? error : number(cmd, entries, RA_THROTTLE_MIN_ENTRIES,
                                  RA_THROTTLE_MAX_ENTRIES, "ENTRIES",
                                  &ra_server_config(cmd->server)->throttle_entries);
}

/* ------------------------------------------------------------ the segment */

int ra_throttle_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                            server_rec *s)
{
    const ra_server_config_t *sconf = ra_server_config(s);
    apr_pool_t *keep = s->process->pool;
    int entries = sconf->throttle_entries ? sconf->throttle_entries
                                          : RA_THROTTLE_DEFAULT_ENTRIES;
    apr_size_t size = ra_throttle_size(entries);
    apr_shm_t *shm = NULL;
    char errbuf[128];
    (void)pconf;
    (void)plog;
    (void)ptemp;

    table = NULL;
    if (sconf->throttle_limits) {
        limits = *sconf->throttle_limits;
    }
    else {
        ra_throttle_default_limits(&limits);
    }
    /* the first of httpd's two configuration passes only tests the config */
    if (sconf->throttle_off || ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return OK;
    }
    apr_pool_userdata_get((void **)&shm, SEGMENT_KEY, keep);
    if (shm && (table = ra_throttle_attach(apr_shm_baseaddr_get(shm), apr_shm_size_get(shm),
                                           entries))) {
        return OK;
    }
    if (shm) {
        /* another size: the old generation's children keep their mapping */
        apr_pool_userdata_set(NULL, SEGMENT_KEY, apr_pool_cleanup_null, keep);
        apr_shm_destroy(shm);
    }
    apr_status_t rv = apr_shm_create(&shm, size, NULL, keep);
    if (rv != APR_SUCCESS) {
        /* refusing every request would be worse than serving unthrottled */
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, RALOGNO(00200)
                     "no shared memory for the throttling table (%" APR_SIZE_T_FMT " bytes, "
                     "%s): the module serves without throttling",
                     size, apr_strerror(rv, errbuf, sizeof(errbuf)));
        return OK;
    }
    table = ra_throttle_init(apr_shm_baseaddr_get(shm), entries);
    apr_pool_userdata_set(shm, SEGMENT_KEY, apr_pool_cleanup_null, keep);
    return OK;
}

/* ------------------------------------------------------------ the checks */

static const char *refusal_message(apr_pool_t *pool, ra_throttle_verdict_t v)
{
    const char *who = v.refused_by == RA_THROTTLE_KEY_ADDRESS
                      ? "Too many failed authentications from this client address"
                      : v.refused_by == RA_THROTTLE_KEY_APP
                      ? "This application has sent too many requests for this tenant"
                      : "This tenant has sent too many requests";
    return apr_psprintf(pool, "%s; retry after %d second%s.", who, v.retry_after,
                        v.retry_after == 1 ? "" : "s");
}

static const char *const key_names[] = {
    [RA_THROTTLE_KEY_TENANT] = "tenant",
    [RA_THROTTLE_KEY_APP] = "tenant+app",
    [RA_THROTTLE_KEY_ADDRESS] = "address",
};

/* Counts and logs a refusal; its message in *message. */
static void refused(request_rec *r, ra_throttle_verdict_t v, const char *key,
                    const char **message)
{
    ra_metrics_count_throttled(ra_observe_metrics());
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, RALOGNO(00201)
                  "request-id=%s throttled: %s %s has no token left, Retry-After %d",
                  r->log_id ? r->log_id : "-", key_names[v.refused_by], key, v.retry_after);
    *message = refusal_message(r->pool, v);
}

/* 429 TooManyRequests with Retry-After. */
static int too_many(ra_request_t *rq, int retry_after, const char *message)
{
    apr_table_setn(rq->r->headers_out, "Retry-After", apr_itoa(rq->r->pool, retry_after));
    return ra_fail(rq, HTTP_TOO_MANY_REQUESTS, "TooManyRequests", message);
}

int ra_throttle_charge_token(request_rec *r, const ra_token_result_t *token,
                             ra_access_e access, const char **message)
{
    ra_throttle_verdict_t v;
    if (!table) {
        return 0;
    }
    v = ra_throttle_charge(table, &limits, token->tenant, token->app_id,
                           access == RA_ACCESS_WRITE ? RA_THROTTLE_WRITE : RA_THROTTLE_READ,
                           apr_time_now());
    if (v.allowed) {
        return 0;
    }
    refused(r, v, v.refused_by == RA_THROTTLE_KEY_APP
                  ? apr_pstrcat(r->pool, token->tenant, "/", token->app_id, NULL)
                  : token->tenant, message);
    return v.retry_after;
}

int ra_throttle_authenticate(ra_request_t *rq, ra_access_e access)
{
    request_rec *r = rq->r;
    const char *address = r->useragent_ip ? r->useragent_ip : "-";
    const char *message;
    int rc;

    if (table) {
        ra_throttle_verdict_t v = ra_throttle_address_check(table, &limits, address,
                                                            apr_time_now());
        if (!v.allowed) {
            refused(r, v, address, &message);
            return too_many(rq, v.retry_after, message);
        }
    }
    if ((rc = ra_authorize(rq, access)) != OK) {
        /* refused tokens, tenants and permissions; not a 500 or 503 of ours */
        if (table && (r->status == HTTP_UNAUTHORIZED || r->status == HTTP_FORBIDDEN)) {
            ra_throttle_address_failed(table, &limits, address, apr_time_now());
        }
        return rc;
    }
    return OK;
}

int ra_throttle_authorize(ra_request_t *rq, ra_access_e access)
{
    const char *message;
    int rc, retry_after;
    if ((rc = ra_throttle_authenticate(rq, access)) != OK) {
        return rc;
    }
    if ((retry_after = ra_throttle_charge_token(rq->r, &rq->token, access, &message))) {
        return too_many(rq, retry_after, message);
    }
    return OK;
}
