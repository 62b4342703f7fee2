/* The module's shared counters and their three renderings (see
 * ra_metrics.h for the locking rule: relaxed atomic adds, no lock). */
#include "ra_metrics.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>

static const char *const op_names[RA_METRIC_OPS] = {
    [RA_METRIC_OP_OTHER] = "other",
    [RA_METRIC_OP_LIST] = "list",
    [RA_METRIC_OP_COUNT] = "count",
    [RA_METRIC_OP_GET] = "get",
    [RA_METRIC_OP_CREATE] = "create",
    [RA_METRIC_OP_UPDATE] = "update",
    [RA_METRIC_OP_DELETE] = "delete",
    [RA_METRIC_OP_BEGIN_ONBOARDING] = "beginOnboarding",
    [RA_METRIC_OP_DISCONNECT] = "disconnect",
};

static const char *const class_names[RA_METRIC_CLASSES] = { "2xx", "3xx", "4xx", "5xx" };

/* Seconds: a SQLite read takes tens of microseconds, a PostgreSQL round
 * trip a fraction of a millisecond, a list query on a large tenant up to a
 * second, and a stuck database as long as its timeout. */
static const double db_bounds[RA_METRIC_DB_BUCKETS] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 2.5, 10
};
static const char *const db_bound_text[RA_METRIC_DB_BUCKETS] = {
    "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1",
    "0.25", "1", "2.5", "10"
};

/* Rows: powers of two up to RemoteAssistCommitBatch's largest value. */
static const int batch_bounds[RA_METRIC_BATCH_BUCKETS] = {
    1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000
};

static void add(apr_uint64_t *counter, apr_uint64_t n)
{
    __atomic_add_fetch(counter, n, __ATOMIC_RELAXED);
}

static apr_uint64_t load(const apr_uint64_t *counter)
{
    return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

void ra_metrics_init(ra_metrics_t *m)
{
    memset(m, 0, sizeof(*m));
    m->layout = RA_METRICS_LAYOUT;
}

int ra_metrics_layout_ok(const ra_metrics_t *m)
{
    return load(&m->layout) == RA_METRICS_LAYOUT;
}

static int status_class(int status)
{
    return status < 300 ? 0 : status >= 500 ? 3 : status / 100 - 2;
}

void ra_metrics_count_request(ra_metrics_t *m, ra_metric_op_e op, int status)
{
    if (m && op >= 0 && op < RA_METRIC_OPS) {
        add(&m->requests[op][status_class(status)], 1);
    }
}

void ra_metrics_count_auth_refusal(ra_metrics_t *m, int reason)
{
    if (m && reason > RA_TOKEN_OK && reason < RA_METRIC_AUTH_REASONS) {
        add(&m->auth_refusals[reason], 1);
    }
}

void ra_metrics_count_throttled(ra_metrics_t *m)
{
    if (m) {
        add(&m->throttled, 1);
    }
}

void ra_metrics_observe_db_time(ra_metrics_t *m, ra_metric_op_e op, apr_interval_time_t t)
{
    int bucket = 0;
    if (!m || op < 0 || op >= RA_METRIC_OPS) {
        return;
    }
    t = t < 0 ? 0 : t;
    while (bucket < RA_METRIC_DB_BUCKETS && (double)t / APR_USEC_PER_SEC > db_bounds[bucket]) {
        bucket++;
    }
    add(&m->db_time[op].buckets[bucket], 1);
    add(&m->db_time[op].sum_us, (apr_uint64_t)t);
}

void ra_metrics_observe_batch(ra_metrics_t *m, int rows)
{
    int bucket = 0;
    if (!m || rows < 1) {
        return;
    }
    while (bucket < RA_METRIC_BATCH_BUCKETS && rows > batch_bounds[bucket]) {
        bucket++;
    }
    add(&m->batch_buckets[bucket], 1);
    add(&m->batch_rows, (apr_uint64_t)rows);
}

void ra_metrics_count_token_cache(ra_metrics_t *m, int hit)
{
    if (m) {
        add(hit ? &m->token_cache_hits : &m->token_cache_misses, 1);
    }
}

void ra_metrics_count_key_refresh(ra_metrics_t *m, int ok)
{
    if (m) {
        add(&m->key_refreshes, 1);
        if (!ok) {
            add(&m->key_refresh_failures, 1);
        }
    }
}

void ra_metrics_keys_taken(ra_metrics_t *m, apr_time_t when)
{
    apr_uint64_t newer = (apr_uint64_t)when;
    apr_uint64_t held = m ? load(&m->keys_taken_us) : 0;
    /* the newest wins, whichever child stores last */
    while (m && newer > held
           && !__atomic_compare_exchange_n(&m->keys_taken_us, &held, newer, 1,
                                           __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
}

void ra_metrics_count_db_timeout(ra_metrics_t *m)
{
    if (m) {
        add(&m->db_timeouts, 1);
    }
}

/* ------------------------------------------------------------ rendering */

/* The plain counters, once for all three forms. */
typedef struct {
    const char *name;     /* Prometheus */
    const char *key;      /* mod_status */
    const char *help;
    size_t offset;
} scalar_t;

static const scalar_t scalars[] = {
    { "remoteassist_throttled_total", "RemoteAssistThrottled",
      "Requests refused with 429 by throttling (RemoteAssistThrottle): a tenant's or an "
      "application's budget spent, or a client address's failed authentications.",
      offsetof(ra_metrics_t, throttled) },
    { "remoteassist_token_cache_hits_total", "RemoteAssistTokenCacheHits",
      "Tokens found verified in the child's token cache (RemoteAssistTokenCache).",
      offsetof(ra_metrics_t, token_cache_hits) },
    { "remoteassist_token_cache_misses_total", "RemoteAssistTokenCacheMisses",
      "Tokens the token cache did not hold, verified in full.",
      offsetof(ra_metrics_t, token_cache_misses) },
    { "remoteassist_key_refreshes_total", "RemoteAssistKeyRefreshes",
      "Fetches of signing keys from a URL (RemoteAssistTokenJwksUri, "
      "RemoteAssistTokenMetadataUrl), good or failed.",
      offsetof(ra_metrics_t, key_refreshes) },
    { "remoteassist_key_refresh_failures_total", "RemoteAssistKeyRefreshFailures",
      "Fetches of signing keys that failed (the last good keys stay in use).",
      offsetof(ra_metrics_t, key_refresh_failures) },
    { "remoteassist_database_timeouts_total", "RemoteAssistDatabaseTimeouts",
      "Database statements stopped by the module's time bound (answered 503).",
      offsetof(ra_metrics_t, db_timeouts) },
};
#define SCALARS (sizeof(scalars) / sizeof(scalars[0]))

static apr_uint64_t scalar_value(const ra_metrics_t *m, const scalar_t *s)
{
    return load((const apr_uint64_t *)(const void *)((const char *)m + s->offset));
}

/* Seconds since the newest keys were taken; -1: no keys yet. */
static apr_int64_t keys_age(const ra_metrics_t *m, apr_time_t now)
{
    apr_time_t taken = (apr_time_t)load(&m->keys_taken_us);
    return taken ? apr_time_sec(now > taken ? now - taken : 0) : -1;
}

static apr_uint64_t requests_total(const ra_metrics_t *m)
{
    apr_uint64_t total = 0;
    for (int op = 0; op < RA_METRIC_OPS; op++) {
        for (int c = 0; c < RA_METRIC_CLASSES; c++) {
            total += load(&m->requests[op][c]);
        }
    }
    return total;
}

static const char *auth_status(int reason)
{
    return reason == RA_METRIC_TENANT_REFUSED || ra_token_status_is_forbidden(reason) ? "403"
                                                                                      : "401";
}

static const char *auth_reason(int reason)
{
    return reason == RA_METRIC_TENANT_REFUSED ? "tenant_not_served"
                                              : ra_token_status_name(reason);
}

/* Room for either histogram's buckets. */
#define CUMULATIVE (RA_METRIC_DB_BUCKETS + 1)
_Static_assert(RA_METRIC_BATCH_BUCKETS <= RA_METRIC_DB_BUCKETS, "CUMULATIVE holds both");

/* A histogram as read: cumulative counts, whose last (+Inf) is _count. */
static void cumulate(const apr_uint64_t *buckets, int n, apr_uint64_t *cumulative)
{
    apr_uint64_t running = 0;
    for (int i = 0; i < n; i++) {
        running += load(&buckets[i]);
        cumulative[i] = running;
    }
}

/* What open_memstream wrote, copied into pool (NULL if it failed). */
static char *finish(apr_pool_t *pool, FILE *out, char **buf)
{
    char *text = NULL;
    if (fclose(out) == 0 && *buf) {
        text = apr_pstrdup(pool, *buf);
    }
    free(*buf);
    return text;
}

char *ra_metrics_prometheus(apr_pool_t *pool, const ra_metrics_t *m, apr_time_t now)
{
    apr_uint64_t cumulative[CUMULATIVE];
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    if (!out) {
        return NULL;
    }

    fputs("# HELP remoteassist_requests_total Requests answered in the module's URL space, "
          "by operation and status class (other: refused before an operation was chosen).\n"
          "# TYPE remoteassist_requests_total counter\n", out);
    for (int op = 0; op < RA_METRIC_OPS; op++) {
        for (int c = 0; c < RA_METRIC_CLASSES; c++) {
            fprintf(out, "remoteassist_requests_total{operation=\"%s\",class=\"%s\"} %"
                    APR_UINT64_T_FMT "\n", op_names[op], class_names[c],
                    load(&m->requests[op][c]));
        }
    }

    fputs("# HELP remoteassist_auth_refusals_total Requests refused 401 or 403 by the "
          "token's check, by reason.\n"
          "# TYPE remoteassist_auth_refusals_total counter\n", out);
    for (int reason = RA_TOKEN_OK + 1; reason < RA_METRIC_AUTH_REASONS; reason++) {
        fprintf(out, "remoteassist_auth_refusals_total{status=\"%s\",reason=\"%s\"} %"
                APR_UINT64_T_FMT "\n", auth_status(reason), auth_reason(reason),
                load(&m->auth_refusals[reason]));
    }

    fputs("# HELP remoteassist_database_seconds Time of an operation's database work: from "
          "asking mod_dbd for a connection (or joining a group commit) to the answer.\n"
          "# TYPE remoteassist_database_seconds histogram\n", out);
    for (int op = RA_METRIC_OP_OTHER + 1; op < RA_METRIC_OPS; op++) {
        cumulate(m->db_time[op].buckets, RA_METRIC_DB_BUCKETS + 1, cumulative);
        for (int b = 0; b <= RA_METRIC_DB_BUCKETS; b++) {
            fprintf(out, "remoteassist_database_seconds_bucket{operation=\"%s\",le=\"%s\"} %"
                    APR_UINT64_T_FMT "\n", op_names[op],
                    b < RA_METRIC_DB_BUCKETS ? db_bound_text[b] : "+Inf", cumulative[b]);
        }
        fprintf(out, "remoteassist_database_seconds_sum{operation=\"%s\"} %.6f\n"
                "remoteassist_database_seconds_count{operation=\"%s\"} %" APR_UINT64_T_FMT "\n",
                op_names[op], (double)load(&m->db_time[op].sum_us) / APR_USEC_PER_SEC,
                op_names[op], cumulative[RA_METRIC_DB_BUCKETS]);
    }

    fputs("# HELP remoteassist_commit_batch_rows Rows per group commit of creates "
          "(RemoteAssistCommitBatch).\n"
          "# TYPE remoteassist_commit_batch_rows histogram\n", out);
    cumulate(m->batch_buckets, RA_METRIC_BATCH_BUCKETS + 1, cumulative);
    for (int b = 0; b <= RA_METRIC_BATCH_BUCKETS; b++) {
        if (b < RA_METRIC_BATCH_BUCKETS) {
            fprintf(out, "remoteassist_commit_batch_rows_bucket{le=\"%d\"} %" APR_UINT64_T_FMT
                    "\n", batch_bounds[b], cumulative[b]);
        }
        else {
            fprintf(out, "remoteassist_commit_batch_rows_bucket{le=\"+Inf\"} %"
                    APR_UINT64_T_FMT "\n", cumulative[b]);
        }
    }
    fprintf(out, "remoteassist_commit_batch_rows_sum %" APR_UINT64_T_FMT "\n"
            "remoteassist_commit_batch_rows_count %" APR_UINT64_T_FMT "\n",
            load(&m->batch_rows), cumulative[RA_METRIC_BATCH_BUCKETS]);

    for (size_t i = 0; i < SCALARS; i++) {
        fprintf(out, "# HELP %s %s\n# TYPE %s counter\n%s %" APR_UINT64_T_FMT "\n",
                scalars[i].name, scalars[i].help, scalars[i].name, scalars[i].name,
                scalar_value(m, &scalars[i]));
    }

    apr_int64_t age = keys_age(m, now);
    if (age >= 0) {
        fprintf(out, "# HELP remoteassist_keys_age_seconds Seconds since the newest signing "
                "keys were taken (key files read, or keys fetched from a URL).\n"
                "# TYPE remoteassist_keys_age_seconds gauge\n"
                "remoteassist_keys_age_seconds %" APR_INT64_T_FMT "\n", age);
    }
    return finish(pool, out, &buf);
}

/* mod_status's lines, once for both forms: every counter by its key;
 * per_operation marks those the HTML shows in its table of operations. */
typedef struct {
    const char *key;
    const char *value;
    int per_operation;
} status_item_t;

static void push_item(apr_array_header_t *items, const char *key, const char *value,
                      int per_operation)
{
    status_item_t *item = apr_array_push(items);
    item->key = key;
    item->value = value;
    item->per_operation = per_operation;
}

static apr_array_header_t *status_items(apr_pool_t *pool, const ra_metrics_t *m,
                                        apr_time_t now)
{
    apr_array_header_t *items = apr_array_make(pool, 96, sizeof(status_item_t));
    apr_uint64_t cumulative[CUMULATIVE];

    push_item(items, "RemoteAssistRequests",
              apr_psprintf(pool, "%" APR_UINT64_T_FMT, requests_total(m)), 0);
    for (int op = 0; op < RA_METRIC_OPS; op++) {
        for (int c = 0; c < RA_METRIC_CLASSES; c++) {
            push_item(items, apr_psprintf(pool, "RemoteAssistRequests_%s_%s", op_names[op],
                                          class_names[c]),
                      apr_psprintf(pool, "%" APR_UINT64_T_FMT, load(&m->requests[op][c])), 1);
        }
    }
    for (int op = RA_METRIC_OP_OTHER + 1; op < RA_METRIC_OPS; op++) {
        cumulate(m->db_time[op].buckets, RA_METRIC_DB_BUCKETS + 1, cumulative);
        push_item(items, apr_psprintf(pool, "RemoteAssistDatabaseSeconds_%s_count",
                                      op_names[op]),
                  apr_psprintf(pool, "%" APR_UINT64_T_FMT, cumulative[RA_METRIC_DB_BUCKETS]), 1);
        push_item(items, apr_psprintf(pool, "RemoteAssistDatabaseSeconds_%s_sum", op_names[op]),
                  apr_psprintf(pool, "%.6f",
                               (double)load(&m->db_time[op].sum_us) / APR_USEC_PER_SEC), 1);
    }
    for (int reason = RA_TOKEN_OK + 1; reason < RA_METRIC_AUTH_REASONS; reason++) {
        push_item(items, apr_psprintf(pool, "RemoteAssistAuthRefusals_%s_%s",
                                      auth_status(reason), auth_reason(reason)),
                  apr_psprintf(pool, "%" APR_UINT64_T_FMT, load(&m->auth_refusals[reason])), 0);
    }
    cumulate(m->batch_buckets, RA_METRIC_BATCH_BUCKETS + 1, cumulative);
    push_item(items, "RemoteAssistCommitBatches",
              apr_psprintf(pool, "%" APR_UINT64_T_FMT, cumulative[RA_METRIC_BATCH_BUCKETS]), 0);
    push_item(items, "RemoteAssistCommitBatchRows",
              apr_psprintf(pool, "%" APR_UINT64_T_FMT, load(&m->batch_rows)), 0);
    for (size_t i = 0; i < SCALARS; i++) {
        push_item(items, scalars[i].key,
                  apr_psprintf(pool, "%" APR_UINT64_T_FMT, scalar_value(m, &scalars[i])), 0);
    }
    apr_int64_t age = keys_age(m, now);
    if (age >= 0) {
        push_item(items, "RemoteAssistKeysAgeSeconds",
                  apr_psprintf(pool, "%" APR_INT64_T_FMT, age), 0);
    }
    return items;
}

char *ra_metrics_status_auto(apr_pool_t *pool, const ra_metrics_t *m, apr_time_t now)
{
    apr_array_header_t *items = status_items(pool, m, now);
    apr_array_header_t *lines = apr_array_make(pool, items->nelts, sizeof(char *));
    for (int i = 0; i < items->nelts; i++) {
        const status_item_t *item = &APR_ARRAY_IDX(items, i, status_item_t);
        APR_ARRAY_PUSH(lines, char *) = apr_pstrcat(pool, item->key, ": ", item->value, "\n",
                                                    NULL);
    }
    return apr_array_pstrcat(pool, lines, 0);
}

/* A table of requests by operation and class with the mean database time,
 * then the other counters (refusals only when there were any). */
char *ra_metrics_status_html(apr_pool_t *pool, const ra_metrics_t *m, apr_time_t now)
{
    apr_array_header_t *items = status_items(pool, m, now);
    apr_uint64_t cumulative[CUMULATIVE];
    char *text = "<hr />\n<h2>mod_remoteassist</h2>\n<table border=\"0\">\n"
                 "<tr><th>operation</th><th>2xx</th><th>3xx</th><th>4xx</th><th>5xx</th>"
                 "<th>database time, mean ms</th></tr>\n";

    for (int op = 0; op < RA_METRIC_OPS; op++) {
        cumulate(m->db_time[op].buckets, RA_METRIC_DB_BUCKETS + 1, cumulative);
        apr_uint64_t n = cumulative[RA_METRIC_DB_BUCKETS];
        text = apr_pstrcat(pool, text, "<tr><td>", op_names[op], "</td>", NULL);
        for (int c = 0; c < RA_METRIC_CLASSES; c++) {
            text = apr_psprintf(pool, "%s<td>%" APR_UINT64_T_FMT "</td>", text,
                                load(&m->requests[op][c]));
        }
        text = n ? apr_psprintf(pool, "%s<td>%.3f</td></tr>\n", text,
                                (double)load(&m->db_time[op].sum_us) / 1000.0 / (double)n)
                 : apr_pstrcat(pool, text, "<td>-</td></tr>\n", NULL);
    }
    text = apr_pstrcat(pool, text, "</table>\n<table border=\"0\">\n", NULL);
    for (int i = 0; i < items->nelts; i++) {
        const status_item_t *item = &APR_ARRAY_IDX(items, i, status_item_t);
        if (!item->per_operation && (strncmp(item->key, "RemoteAssistAuthRefusals_", 25)
                                     || strcmp(item->value, "0"))) {
            text = apr_pstrcat(pool, text, "<tr><td>", item->key, "</td><td>", item->value,
                               "</td></tr>\n", NULL);
        }
    }
    return apr_pstrcat(pool, text, "</table>\n", NULL);
}
