/* httpd glue: what administrators see of the module while it runs: the
 * shared counters (ra_metrics.h) with their Prometheus handler and
 * mod_status section, and the health check. */
#ifndef MOD_RA_OBSERVE_H
#define MOD_RA_OBSERVE_H

#include "httpd.h"
#include "http_config.h"

#include "ra_metrics.h"

#define RA_METRICS_HANDLER "remoteassist-metrics"
#define RA_HEALTH_HANDLER "remoteassist-health"

/* The counters every child shares; NULL with RemoteAssistMetrics Off or
 * when the segment could not be made (each ra_metrics_* call takes NULL).
 * Set by post_config in the parent, before children fork. */
ra_metrics_t *ra_observe_metrics(void);

/* A database statement stopped by the module's time bound. */
void ra_observe_db_timeout(void);

/* RemoteAssistMetrics On|Off (main server only: the counters are the
 * whole server's). */
const char *ra_observe_set_metrics(cmd_parms *cmd, void *dcfg, int on);

#endif
