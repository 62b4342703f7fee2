/* mod_remoteassist: answers Microsoft Graph's remoteAssistancePartners API
 * (list, get, $count, create, update, delete, beginOnboarding, disconnect)
 * from an Apache site, tenant by tenant.
 *
 * This file holds the module record and the hook registration only. The
 * httpd glue lives in src/mod_ra_*.c (configuration, start-up, request
 * context, dispatch, one unit per operation family); the logic that needs
 * no httpd in src/ra_*.c (token, entity, route, query, OData, store), which
 * the unit tests exercise without a server. One request runs:
 *   translate_name claims the URL -> route -> method -> bearer token ->
 *   query options -> media types -> body -> entity -> apr_dbd through
 *   mod_dbd's pool -> Graph/OData answer.
 * Nothing mutable is shared between requests: configuration and key files
 * are read with the configuration and only read afterwards; keys from a URL
 * are replaced as whole snapshots that no request sees change
 * (src/mod_ra_keys.c). */
#include "httpd.h"
#include "http_config.h"
#include "http_protocol.h"
#include "http_request.h"

#include "mod_remoteassist.h"
#include "mod_ra_hooks.h"
#include "mod_status.h"

static void register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_optional_fn_retrieve(ra_request_retrieve_optional_fns, NULL, NULL,
                                 APR_HOOK_MIDDLE);
    ap_hook_check_config(ra_config_check, NULL, NULL, APR_HOOK_MIDDLE);
    /* after ra_config_check, which finds the servers that serve sections */
    ap_hook_check_config(ra_startup_check_config, NULL, NULL, APR_HOOK_LAST);
    ap_hook_pre_config(ra_startup_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    /* first: the counters exist before the keys' first fetch counts */
    ap_hook_post_config(ra_observe_post_config, NULL, NULL, APR_HOOK_FIRST);
    ap_hook_post_config(ra_startup_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(ra_service_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    /* before mod_watchdog's (APR_HOOK_LAST), which starts what is registered */
    ap_hook_post_config(ra_keys_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(ra_startup_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_translate_name(ra_dispatch_translate_name, NULL, NULL, APR_HOOK_FIRST);
    ap_hook_map_to_storage(ra_dispatch_map_to_storage, NULL, NULL, APR_HOOK_FIRST);
    ap_hook_handler(ra_dispatch_handler, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(ra_observe_handler, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_log_transaction(ra_observe_log_transaction, NULL, NULL, APR_HOOK_MIDDLE);
    /* optional: registered whether or not mod_status is loaded */
    APR_OPTIONAL_HOOK(ap, status_hook, ra_observe_status_hook, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_insert_error_filter(ra_dispatch_insert_error_filter, NULL, NULL,
                                APR_HOOK_MIDDLE);
    ra_dispatch_register_filters();
    /* first, so that an administrator's DBDInitSQL can override the PRAGMAs */
    APR_OPTIONAL_HOOK(dbd, post_connect, ra_startup_dbd_post_connect, NULL, NULL,
                      APR_HOOK_FIRST);
}

AP_DECLARE_MODULE(remoteassist) = {
    STANDARD20_MODULE_STUFF,
    ra_config_create_dir,
    ra_config_merge_dir,
    ra_config_create_server,
    ra_config_merge_server,
    ra_config_commands,
    register_hooks,
#if defined(AP_MODULE_FLAG_ALWAYS_MERGE)
    AP_MODULE_FLAG_NONE
#endif
};
