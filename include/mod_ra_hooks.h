/* httpd glue: what mod_remoteassist.c puts into the module record and the
 * hooks it registers, by the unit that implements them. mod_remoteassist.c
 * includes this header (and the leaf mod_remoteassist.h) only, so that no
 * glue unit depends on the module file that depends on it. */
#ifndef MOD_RA_HOOKS_H
#define MOD_RA_HOOKS_H

#include "httpd.h"
#include "http_config.h"
#include <apr_dbd.h>
#include "mod_dbd.h"

/* mod_ra_config.c: the configuration structures and the directives */
extern const command_rec ra_config_commands[];
void *ra_config_create_dir(apr_pool_t *p, char *dir);
void *ra_config_merge_dir(apr_pool_t *p, void *basev, void *addv);
void *ra_config_create_server(apr_pool_t *p, server_rec *s);
void *ra_config_merge_server(apr_pool_t *p, void *basev, void *addv);
/* check_config: runs under apachectl -t too (post_config does not) */
int ra_config_check(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                    server_rec *main_server);

/* mod_ra_keys.c: the shared memory, the cache directory, each source's
 * first keys (from its cache file, else fetched now) and the fetcher */
int ra_keys_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                        server_rec *s);

/* mod_ra_startup.c: the database and the SQLite writer mutex */
int ra_startup_pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp);
int ra_startup_check_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                            server_rec *main_server);
int ra_startup_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                           server_rec *s);
void ra_startup_child_init(apr_pool_t *p, server_rec *main_server);
apr_status_t ra_startup_dbd_post_connect(apr_pool_t *pool, dbd_cfg_t *dbd_cfg,
                                         ap_dbd_t *dbd);

/* Whether r's database has its tables: 1, or 0 with *why (a database that
 * was not usable at start-up, retried here every few seconds). */
int ra_startup_database_ready(request_rec *r, const char **why);

/* Makes a pooled connection that mod_dbd opened before r's database was
 * ready fit for use, once: opened again (SQLite, when no other module's
 * statements are on it) and its statements prepared. */
void ra_startup_connection_ready(request_rec *r, ap_dbd_t *dbd);

/* mod_ra_observe.c: RemoteAssistMetrics On|Off (main server only: the
 * counters are the whole server's) */
const char *ra_observe_set_metrics(cmd_parms *cmd, void *dcfg, int on);

/* mod_ra_request.c */
void ra_request_retrieve_optional_fns(void);

/* mod_ra_dispatch.c: which requests are the module's, and the dispatch table */
int ra_dispatch_translate_name(request_rec *r);

/* mod_ra_service.c: $metadata of each version, built once */
int ra_service_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                           server_rec *s);

int ra_dispatch_map_to_storage(request_rec *r);
int ra_dispatch_handler(request_rec *r);
void ra_dispatch_insert_error_filter(request_rec *r);
void ra_dispatch_register_filters(void);

/* mod_ra_observe.c: the shared counters, their handler and mod_status
 * section, the health check */
int ra_observe_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                           server_rec *s);
int ra_observe_handler(request_rec *r);
int ra_observe_log_transaction(request_rec *r);
int ra_observe_status_hook(request_rec *r, int flags);

/* The metrics operation of a request in the module's URL space
 * (ra_metric_op_e), or -1 for a request that is not the module's. */
int ra_dispatch_metric_operation(request_rec *r);

#endif
