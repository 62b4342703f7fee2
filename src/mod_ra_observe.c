/* httpd glue: the shared counters' segment, SetHandler remoteassist-metrics
 * (Prometheus), the mod_status section and SetHandler remoteassist-health.
 *
 * The segment is anonymous shared memory kept in the process pool, which
 * lives until httpd stops: made by the parent at the first real
 * post_config, inherited by every child it forks, and found again after a
 * graceful restart, so the counters keep counting across reloads (Prometheus
 * takes a reset in its stride anyway). Its locking rule is ra_metrics.h's:
 * relaxed atomic adds, no lock. */
#include "mod_ra_observe.h"

#include "ap_mpm.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "mod_status.h"
#include <apr_dbd.h>
#include "mod_dbd.h"

#include <apr_shm.h>
#include <apr_strings.h>
#include "ra_json_writer.h"

#include "mod_ra_config.h"
#include "mod_ra_hooks.h"
#include "mod_ra_keys.h"
#include "ra_odata.h"

APLOG_USE_MODULE(remoteassist);

#define SEGMENT_KEY "remoteassist-metrics"

/* The longest the health check's query may take before the database counts
 * as failing: a load balancer's probe usually waits a few seconds. */
#define HEALTH_BOUND apr_time_from_sec(2)
#define HEALTH_RETRY_AFTER "10"

/* Set by post_config in the parent (before the children fork), only read
 * afterwards. */
static ra_metrics_t *metrics;
static int metrics_off;

ra_metrics_t *ra_observe_metrics(void)
{
    return metrics;
}

void ra_observe_db_timeout(void)
{
    ra_metrics_count_db_timeout(metrics);
}

const char *ra_observe_set_metrics(cmd_parms *cmd, void *dcfg, int on)
{
    const char *error = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    (void)dcfg;
    if (error) {
        return error;
    }
    ra_server_config(cmd->server)->metrics_off = !on;
    return NULL;
}

/* ------------------------------------------------------------ the segment */

/* Whether a section of s (every server from s on, with all) passes test. Each section's own configuration, in pconf: what
 * start-up found of it is marked there, and it lives as long as requests. */
static int some_section(server_rec *s, int all, int (*test)(const ra_dir_config_t *own))
{
    for (; s; s = all ? s->next : NULL) {
        core_server_config *core = ap_get_core_module_config(s->module_config);
        apr_array_header_t *lists[] = { core->sec_url, core->sec_dir };
        for (size_t l = 0; l < sizeof(lists) / sizeof(lists[0]); l++) {
            ap_conf_vector_t **sec = (ap_conf_vector_t **)lists[l]->elts;
            for (int i = 0; i < lists[l]->nelts; i++) {
                const ra_dir_config_t *own = ap_get_module_config(sec[i],
                                                                  &remoteassist_module);
                if (own && test(own)) {
                    return 1;
                }
            }
        }
    }
    return 0;
}

/* Keys from files are read with the configuration, so they are as old as it. */
static int reads_key_files(const ra_dir_config_t *own)
{
    return own->keys != NULL;
}

/* A serving section start-up refused (RA00064): it answers 503. */
static int refused(const ra_dir_config_t *own)
{
    return own->serves && own->unusable != NULL;
}

/* The segment of an earlier generation, if its layout is this module's. */
static ra_metrics_t *kept_segment(apr_pool_t *keep)
{
    apr_shm_t *shm = NULL;
    ra_metrics_t *kept;
    apr_pool_userdata_get((void **)&shm, SEGMENT_KEY, keep);
    if (!shm || apr_shm_size_get(shm) < sizeof(ra_metrics_t)) {
        return NULL;
    }
    kept = apr_shm_baseaddr_get(shm);
    return ra_metrics_layout_ok(kept) ? kept : NULL;
}

int ra_observe_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                           server_rec *s)
{
    apr_pool_t *keep = s->process->pool;
    apr_shm_t *shm;
    char errbuf[128];
    (void)pconf;
    (void)plog;
    (void)ptemp;

    metrics = NULL;
    ra_keys_count_into(NULL);
    metrics_off = ra_server_config(s)->metrics_off;
    /* the first of httpd's two configuration passes only tests the config */
    if (metrics_off || ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return OK;
    }
    if (!(metrics = kept_segment(keep))) {
        /* anonymous: every child forked from here on inherits it */
        apr_status_t rv = apr_shm_create(&shm, sizeof(ra_metrics_t), NULL, keep);
        if (rv != APR_SUCCESS) {
            /* the counters are not worth a site: serve without them */
            ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, RALOGNO(00080)
                         "no shared memory for the metrics (%s): the module serves without "
                         "them, and " RA_METRICS_HANDLER " answers 503",
                         apr_strerror(rv, errbuf, sizeof(errbuf)));
            return OK;
        }
        metrics = apr_shm_baseaddr_get(shm);
        ra_metrics_init(metrics);
        apr_pool_userdata_set(shm, SEGMENT_KEY, apr_pool_cleanup_null, keep);
    }
    ra_keys_count_into(metrics);
    if (some_section(s, 1, reads_key_files)) {
        ra_metrics_keys_taken(metrics, apr_time_now());
    }
    return OK;
}

/* ------------------------------------------------------------- counting */

int ra_observe_log_transaction(request_rec *r)
{
    const request_rec *last = r;
    int op;
    if (!metrics || (op = ra_dispatch_metric_operation(r)) < 0) {
        return DECLINED;
    }
    while (last->next) { /* the status sent, after any internal redirect */
        last = last->next;
    }
    ra_metrics_count_request(metrics, (ra_metric_op_e)op, last->status);
    return DECLINED;
}

/* ------------------------------------------------------------- handlers */

static int get_only(request_rec *r)
{
    r->allowed = AP_METHOD_BIT << M_GET;
    return r->method_number == M_GET ? OK : HTTP_METHOD_NOT_ALLOWED;
}

static int answer_metrics(request_rec *r)
{
    const char *text;
    int rc;

    if ((rc = get_only(r)) != OK) {
        return rc;
    }
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    if (!metrics) {
        ap_set_content_type(r, "text/plain; charset=utf-8");
        r->status = metrics_off ? HTTP_NOT_FOUND : HTTP_SERVICE_UNAVAILABLE;
        ap_rputs(metrics_off ? "RemoteAssistMetrics is Off.\n"
                             : "The metrics are unavailable (see RA00080 in the error log).\n",
                 r);
        return OK;
    }
    if (!(text = ra_metrics_prometheus(r->pool, metrics, apr_time_now()))) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    ap_set_content_type(r, "text/plain; version=0.0.4; charset=utf-8");
    ap_set_content_length(r, (apr_off_t)strlen(text));
    if (!r->header_only) {
        ap_rputs(text, r);
    }
    return OK;
}

/* Whether the server's database answers a trivial query on the module's
 * own table within HEALTH_BOUND: NULL, or what failed. */
static const char *database_failure(request_rec *r)
{
    APR_OPTIONAL_FN_TYPE(ap_dbd_acquire) *acquire = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_acquire);
    apr_time_t start = apr_time_now();
    apr_dbd_results_t *results = NULL;
    const char *why;
    ap_dbd_t *dbd;

    if (!ra_startup_database_ready(r, &why)) {
        return "not set up (see the error log)";
    }
    if (!acquire || !(dbd = acquire(r))) {
        return "no connection";
    }
    ra_startup_connection_ready(r, dbd);
    /* random access: the driver reads the whole (one-row) result at once,
     * so an error is the select's, and the connection goes back idle */
    if (apr_dbd_select(dbd->driver, r->pool, dbd->handle, &results,
                       "SELECT version FROM remoteassist_schema", 1)) {
        return "the query failed";
    }
    if (apr_time_now() - start > HEALTH_BOUND) {
        return apr_psprintf(r->pool, "slower than %" APR_TIME_T_FMT " s",
                            apr_time_sec(HEALTH_BOUND));
    }
    return NULL;
}

/* 200 {"status":"ok",...} when this server can serve; 503 naming the part
 * that cannot. Says nothing of tenants or data. */
static int answer_health(request_rec *r)
{
    const char *database = NULL, *keys = NULL, *configuration = NULL;
    int state = AP_MPMQ_RUNNING, rc;
    ra_jw_text_t text = { .pool = r->pool };
    ra_jw_t jw;

    if ((rc = get_only(r)) != OK) {
        return rc;
    }
    ra_jw_init(&jw, ra_jw_text_sink, &text);
    ra_jw_object_open(&jw);
    if (ap_mpm_query(AP_MPMQ_MPM_STATE, &state) == APR_SUCCESS && state == AP_MPMQ_STOPPING) {
        ra_jw_member_string(&jw, "status", "stopping");
    }
    else {
        configuration = some_section(r->server, 0, refused)
                        ? "a section was refused at start-up (see RA00064)" : NULL;
        database = database_failure(r);
        keys = ra_keys_missing(r->server) ? "not loaded" : NULL;
        ra_jw_member_string(&jw, "status", configuration || database || keys
                                           ? "unavailable" : "ok");
        ra_jw_member_string(&jw, "configuration", configuration ? configuration : "ok");
        ra_jw_member_string(&jw, "database", database ? database : "ok");
        ra_jw_member_string(&jw, "keys", keys ? keys : "ok");
    }
    ra_jw_member_string(&jw, "version", RA_MODULE_VERSION);
    ra_jw_object_close(&jw);
    ra_jw_finish(&jw); /* the text sink cannot fail, nor these calls */
    int healthy = state != AP_MPMQ_STOPPING && !configuration && !database && !keys;
    const char *body = text.text;
    apr_size_t len = text.len;
    if (!healthy) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, RALOGNO(00081)
                      "health check failed: %s", body);
        apr_table_setn(r->headers_out, "Retry-After", HEALTH_RETRY_AFTER);
    }
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    r->status = healthy ? HTTP_OK : HTTP_SERVICE_UNAVAILABLE;
    ap_set_content_type(r, "application/json");
    ap_set_content_length(r, (apr_off_t)len);
    if (!r->header_only) {
        ap_rwrite(body, (int)len, r);
    }
    return OK;
}

int ra_observe_handler(request_rec *r)
{
    if (!r->handler) {
        return DECLINED;
    }
    if (!strcmp(r->handler, RA_METRICS_HANDLER)) {
        return answer_metrics(r);
    }
    if (!strcmp(r->handler, RA_HEALTH_HANDLER)) {
        return answer_health(r);
    }
    return DECLINED;
}

/* mod_status's section: "Key: value" lines for ?auto, else HTML. */
int ra_observe_status_hook(request_rec *r, int flags)
{
    const char *text;
    if (!metrics) {
        if (!(flags & AP_STATUS_SHORT)) {
            ap_rputs("<hr />\n<h2>mod_remoteassist</h2>\n<p>No metrics (RemoteAssistMetrics "
                     "Off, or see RA00080).</p>\n", r);
        }
        return OK;
    }
    text = flags & AP_STATUS_SHORT ? ra_metrics_status_auto(r->pool, metrics, apr_time_now())
                                   : ra_metrics_status_html(r->pool, metrics, apr_time_now());
    if (text) {
        ap_rputs(text, r);
    }
    return OK;
}
