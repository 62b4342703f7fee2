/* The module's counters, shared by every child of a server: a fixed-layout
 * block that lives in one shared memory segment (src/mod_ra_observe.c makes
 * it), and its rendering for Prometheus and mod_status. No httpd here, so
 * the unit tests render and check it.
 *
 * The segment's one locking rule: there is no lock. Every member is a
 * 64-bit counter that writers only ever add to (or, for the key set's time,
 * store) with one relaxed atomic operation, and readers load one by one. A
 * scrape may therefore see one request's counters half-updated (its status
 * counted, its database time not yet), never a torn or lost value; the
 * histogram's _count is the sum of its buckets as read, so le="+Inf" always
 * equals _count. */
#ifndef RA_METRICS_H
#define RA_METRICS_H

#include <apr_pools.h>
#include <apr_time.h>

#include "ra_token.h"

/* What a request was, as the dispatch table names it; OTHER: refused
 * before an operation was chosen (unknown path, method, OPTIONS, or an
 * error httpd answered itself). */
typedef enum {
    RA_METRIC_OP_OTHER = 0,
    RA_METRIC_OP_LIST,
    RA_METRIC_OP_COUNT,
    RA_METRIC_OP_GET,
    RA_METRIC_OP_CREATE,
    RA_METRIC_OP_UPDATE,
    RA_METRIC_OP_DELETE,
    RA_METRIC_OP_BEGIN_ONBOARDING,
    RA_METRIC_OP_DISCONNECT,
    RA_METRIC_OPS
} ra_metric_op_e;

/* 2xx, 3xx, 4xx, 5xx (anything lower counts as 2xx, higher as 5xx). */
#define RA_METRIC_CLASSES 4

/* Refusals by reason: the token statuses of ra_token.h, and one more for a
 * valid token of a tenant that RemoteAssistTenant does not list. */
#define RA_METRIC_TENANT_REFUSED (RA_TOKEN_PERSONAL_ACCOUNT + 1)
#define RA_METRIC_AUTH_REASONS (RA_METRIC_TENANT_REFUSED + 1)

/* Upper bounds of the histograms' buckets; one more bucket is +Inf. */
#define RA_METRIC_DB_BUCKETS 14
#define RA_METRIC_BATCH_BUCKETS 11

typedef struct {
    apr_uint64_t buckets[RA_METRIC_DB_BUCKETS + 1]; /* not cumulative; last: +Inf */
    apr_uint64_t sum_us;                           /* microseconds */
} ra_metric_db_histogram_t;

typedef struct {
    apr_uint64_t layout;                 /* RA_METRICS_LAYOUT once initialised */
    apr_uint64_t requests[RA_METRIC_OPS][RA_METRIC_CLASSES];
    apr_uint64_t auth_refusals[RA_METRIC_AUTH_REASONS];
    apr_uint64_t throttled;              /* 429s of throttling */
    ra_metric_db_histogram_t db_time[RA_METRIC_OPS];
    apr_uint64_t batch_buckets[RA_METRIC_BATCH_BUCKETS + 1];
    apr_uint64_t batch_rows;             /* the batch histogram's _sum */
    apr_uint64_t token_cache_hits;
    apr_uint64_t token_cache_misses;
    apr_uint64_t key_refreshes;
    apr_uint64_t key_refresh_failures;
    apr_uint64_t keys_taken_us;          /* apr_time_t of the newest keys; 0: none */
    apr_uint64_t db_timeouts;
} ra_metrics_t;

/* The block's layout: its size, and a version to raise when members move
 * without changing it. A graceful restart into a module whose layout differs
 * starts a fresh block instead of misreading the old one. */
#define RA_METRICS_LAYOUT ((apr_uint64_t)0x5241000100000000ull | sizeof(ra_metrics_t))

/* Zeroes m and stamps its layout. */
void ra_metrics_init(ra_metrics_t *m);

/* Whether m was initialised by this layout (a block that survived a
 * restart). */
int ra_metrics_layout_ok(const ra_metrics_t *m);

/* Every function below takes m == NULL (metrics off) and then does nothing. */

/* One answer of status to an op request. */
void ra_metrics_count_request(ra_metrics_t *m, ra_metric_op_e op, int status);

/* One 401/403: a token status of ra_token.h, or RA_METRIC_TENANT_REFUSED. */
void ra_metrics_count_auth_refusal(ra_metrics_t *m, int reason);

/* One request refused with 429 by throttling. */
void ra_metrics_count_throttled(ra_metrics_t *m);

/* The database time of one op request. */
void ra_metrics_observe_db_time(ra_metrics_t *m, ra_metric_op_e op, apr_interval_time_t t);

/* One group commit of rows rows. */
void ra_metrics_observe_batch(ra_metrics_t *m, int rows);

/* A token found verified in the cache (hit) or verified in full (miss). */
void ra_metrics_count_token_cache(ra_metrics_t *m, int hit);

/* One fetch of keys from a URL, good or failed. */
void ra_metrics_count_key_refresh(ra_metrics_t *m, int ok);

/* Keys taken at when (files read, a fetch, a cache file's time): the key
 * set's age counts from the newest such time. */
void ra_metrics_keys_taken(ra_metrics_t *m, apr_time_t when);

/* A database statement stopped by the module's time bound. */
void ra_metrics_count_db_timeout(ra_metrics_t *m);

/* The Prometheus text exposition format 0.0.4 of m at time now, in pool. */
char *ra_metrics_prometheus(apr_pool_t *pool, const ra_metrics_t *m, apr_time_t now);

/* mod_status's forms: "Key: value" lines (?auto) or an HTML section. */
char *ra_metrics_status_auto(apr_pool_t *pool, const ra_metrics_t *m, apr_time_t now);
char *ra_metrics_status_html(apr_pool_t *pool, const ra_metrics_t *m, apr_time_t now);

#endif
