/* ra_metrics: what each count lands on, and the three renderings (the
 * Prometheus text format's rules, mod_status's ?auto lines, the HTML). */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>

#include "ra_metrics.h"
#include "suites.h"

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))
#define NOW apr_time_from_sec(1700000000)

static ra_metrics_t metrics;

/* The value of the sample line that starts with "name " in text; -1: none. */
static double sample(const char *text, const char *name)
{
    size_t n = strlen(name);
    for (const char *line = text; line && *line; line = strchr(line, '\n')) {
        line += *line == '\n';
        if (!strncmp(line, name, n) && line[n] == ' ') {
            return strtod(line + n + 1, NULL);
        }
    }
    return -1;
}

static double prom(const char *name)
{
    return sample(ra_metrics_prometheus(pool, &metrics, NOW), name);
}

typedef struct {
    int status;
    const char *series;
} request_case_t;

START_TEST(test_requests_by_class)
{
    static const request_case_t cases[] = {
        { 200, "remoteassist_requests_total{operation=\"create\",class=\"2xx\"}" },
        { 201, "remoteassist_requests_total{operation=\"create\",class=\"2xx\"}" },
        { 204, "remoteassist_requests_total{operation=\"create\",class=\"2xx\"}" },
        { 304, "remoteassist_requests_total{operation=\"create\",class=\"3xx\"}" },
        { 400, "remoteassist_requests_total{operation=\"create\",class=\"4xx\"}" },
        { 499, "remoteassist_requests_total{operation=\"create\",class=\"4xx\"}" },
        { 503, "remoteassist_requests_total{operation=\"create\",class=\"5xx\"}" },
        { 600, "remoteassist_requests_total{operation=\"create\",class=\"5xx\"}" },
    };
    for (size_t i = 0; i < COUNT_OF(cases); i++) {
        ra_metrics_init(&metrics);
        ra_metrics_count_request(&metrics, RA_METRIC_OP_CREATE, cases[i].status);
        ck_assert_msg(prom(cases[i].series) == 1, "%d: %s is %g", cases[i].status,
                      cases[i].series, prom(cases[i].series));
        ck_assert_msg(prom("remoteassist_requests_total{operation=\"get\",class=\"2xx\"}") == 0,
                      "%d counted for get", cases[i].status);
    }
}
END_TEST

typedef struct {
    ra_metric_op_e op;
    const char *name;
} op_case_t;

START_TEST(test_operation_names)
{
    static const op_case_t cases[] = {
        { RA_METRIC_OP_OTHER, "other" },
        { RA_METRIC_OP_LIST, "list" },
        { RA_METRIC_OP_COUNT, "count" },
        { RA_METRIC_OP_GET, "get" },
        { RA_METRIC_OP_CREATE, "create" },
        { RA_METRIC_OP_UPDATE, "update" },
        { RA_METRIC_OP_DELETE, "delete" },
        { RA_METRIC_OP_BEGIN_ONBOARDING, "beginOnboarding" },
        { RA_METRIC_OP_DISCONNECT, "disconnect" },
    };
    ck_assert_int_eq(COUNT_OF(cases), RA_METRIC_OPS);
    for (size_t i = 0; i < COUNT_OF(cases); i++) {
        ra_metrics_init(&metrics);
        for (size_t k = 0; k <= i; k++) {
            ra_metrics_count_request(&metrics, cases[i].op, 404);
        }
        const char *series = apr_psprintf(pool, "remoteassist_requests_total{operation=\"%s\","
                                          "class=\"4xx\"}", cases[i].name);
        ck_assert_msg(prom(series) == (double)(i + 1), "%s is %g", series, prom(series));
        const char *line = apr_psprintf(pool, "RemoteAssistRequests_%s_4xx:", cases[i].name);
        ck_assert_msg(sample(ra_metrics_status_auto(pool, &metrics, NOW), line)
                      == (double)(i + 1), "?auto %s", line);
    }
}
END_TEST

typedef struct {
    int reason;
    const char *series;
} auth_case_t;

START_TEST(test_auth_refusals)
{
    static const auth_case_t cases[] = {
        { RA_TOKEN_MISSING, "remoteassist_auth_refusals_total{status=\"401\",reason=\"missing\"}" },
        { RA_TOKEN_EXPIRED, "remoteassist_auth_refusals_total{status=\"401\",reason=\"expired\"}" },
        { RA_TOKEN_BAD_SIGNATURE,
          "remoteassist_auth_refusals_total{status=\"401\",reason=\"bad_signature\"}" },
        { RA_TOKEN_NO_PERMISSION,
          "remoteassist_auth_refusals_total{status=\"403\",reason=\"insufficient_permission\"}" },
        { RA_TOKEN_PERSONAL_ACCOUNT,
          "remoteassist_auth_refusals_total{status=\"403\",reason=\"personal_account\"}" },
        { RA_METRIC_TENANT_REFUSED,
          "remoteassist_auth_refusals_total{status=\"403\",reason=\"tenant_not_served\"}" },
    };
    for (size_t i = 0; i < COUNT_OF(cases); i++) {
        ra_metrics_init(&metrics);
        ra_metrics_count_auth_refusal(&metrics, cases[i].reason);
        ck_assert_msg(prom(cases[i].series) == 1, "%s is %g", cases[i].series,
                      prom(cases[i].series));
    }
    /* RA_TOKEN_OK is no refusal and has no series; out of range is ignored */
    ra_metrics_init(&metrics);
    ra_metrics_count_auth_refusal(&metrics, RA_TOKEN_OK);
    ra_metrics_count_auth_refusal(&metrics, RA_METRIC_AUTH_REASONS);
    ck_assert_ptr_null(strstr(ra_metrics_prometheus(pool, &metrics, NOW), "reason=\"ok\""));
    ck_assert_ptr_null(strstr(ra_metrics_prometheus(pool, &metrics, NOW), "} 1\n"));
}
END_TEST

typedef struct {
    apr_interval_time_t usec;
    const char *first_le;   /* the smallest bucket that counts it */
    const char *below_le;   /* the bucket just under it, NULL: none */
} db_case_t;

START_TEST(test_database_buckets)
{
    static const db_case_t cases[] = {
        { 0, "0.0001", NULL },
        { 100, "0.0001", NULL },              /* le is inclusive */
        { 101, "0.00025", "0.0001" },
        { 1000, "0.001", "0.0005" },
        { 1001, "0.0025", "0.001" },
        { 10000000, "10", "2.5" },
        { 10000001, "+Inf", "10" },
        { -5, "0.0001", NULL },               /* a clock that stepped back */
    };
    for (size_t i = 0; i < COUNT_OF(cases); i++) {
        ra_metrics_init(&metrics);
        ra_metrics_observe_db_time(&metrics, RA_METRIC_OP_GET, cases[i].usec);
        const char *at = apr_psprintf(pool, "remoteassist_database_seconds_bucket{operation="
                                      "\"get\",le=\"%s\"}", cases[i].first_le);
        ck_assert_msg(prom(at) == 1, "%" APR_TIME_T_FMT " us: %s is %g", cases[i].usec, at,
                      prom(at));
        if (cases[i].below_le) {
            const char *below = apr_psprintf(pool, "remoteassist_database_seconds_bucket{"
                                             "operation=\"get\",le=\"%s\"}", cases[i].below_le);
            ck_assert_msg(prom(below) == 0, "%" APR_TIME_T_FMT " us: %s is %g", cases[i].usec,
                          below, prom(below));
        }
        ck_assert(prom("remoteassist_database_seconds_count{operation=\"get\"}") == 1);
        ck_assert(prom("remoteassist_database_seconds_count{operation=\"list\"}") == 0);
    }
}
END_TEST

typedef struct {
    int rows;
    const char *le;      /* where it lands; NULL: not counted */
} batch_case_t;

START_TEST(test_batch_buckets)
{
    static const batch_case_t cases[] = {
        { 1, "1" }, { 2, "2" }, { 3, "4" }, { 64, "64" }, { 65, "128" }, { 1000, "1000" },
        { 1001, "+Inf" }, { 0, NULL }, { -1, NULL },
    };
    for (size_t i = 0; i < COUNT_OF(cases); i++) {
        ra_metrics_init(&metrics);
        ra_metrics_observe_batch(&metrics, cases[i].rows);
        double count = prom("remoteassist_commit_batch_rows_count");
        if (!cases[i].le) {
            ck_assert_msg(count == 0, "%d rows counted", cases[i].rows);
            continue;
        }
        const char *at = apr_psprintf(pool, "remoteassist_commit_batch_rows_bucket{le=\"%s\"}",
                                      cases[i].le);
        ck_assert_msg(prom(at) == 1 && count == 1, "%d rows: %s is %g", cases[i].rows, at,
                      prom(at));
        ck_assert(prom("remoteassist_commit_batch_rows_sum") == cases[i].rows);
    }
}
END_TEST

START_TEST(test_scalars_and_key_age)
{
    ra_metrics_init(&metrics);
    ck_assert_ptr_null(strstr(ra_metrics_prometheus(pool, &metrics, NOW), "keys_age"));
    ra_metrics_count_token_cache(&metrics, 1);
    ra_metrics_count_token_cache(&metrics, 1);
    ra_metrics_count_token_cache(&metrics, 0);
    ra_metrics_count_key_refresh(&metrics, 1);
    ra_metrics_count_key_refresh(&metrics, 0);
    ra_metrics_count_db_timeout(&metrics);
    ra_metrics_count_throttled(&metrics);
    ra_metrics_count_throttled(&metrics);
    ra_metrics_count_throttled(&metrics);
    ra_metrics_keys_taken(&metrics, NOW - apr_time_from_sec(90));
    ra_metrics_keys_taken(&metrics, NOW - apr_time_from_sec(500)); /* older: ignored */
    ck_assert(prom("remoteassist_token_cache_hits_total") == 2);
    ck_assert(prom("remoteassist_token_cache_misses_total") == 1);
    ck_assert(prom("remoteassist_key_refreshes_total") == 2);
    ck_assert(prom("remoteassist_key_refresh_failures_total") == 1);
    ck_assert(prom("remoteassist_database_timeouts_total") == 1);
    ck_assert(prom("remoteassist_throttled_total") == 3);
    ck_assert(prom("remoteassist_keys_age_seconds") == 90);
    const char *auto_text = ra_metrics_status_auto(pool, &metrics, NOW);
    ck_assert(sample(auto_text, "RemoteAssistTokenCacheHits:") == 2);
    ck_assert(sample(auto_text, "RemoteAssistKeysAgeSeconds:") == 90);
    /* keys taken "in the future" (a clock step) are 0 s old */
    ra_metrics_keys_taken(&metrics, NOW + apr_time_from_sec(30));
    ck_assert(prom("remoteassist_keys_age_seconds") == 0);
}
END_TEST

/* Every function takes NULL (metrics off). */
START_TEST(test_off_is_harmless)
{
    ra_metrics_count_request(NULL, RA_METRIC_OP_GET, 200);
    ra_metrics_count_auth_refusal(NULL, RA_TOKEN_EXPIRED);
    ra_metrics_observe_db_time(NULL, RA_METRIC_OP_GET, 5);
    ra_metrics_observe_batch(NULL, 3);
    ra_metrics_count_token_cache(NULL, 1);
    ra_metrics_count_key_refresh(NULL, 0);
    ra_metrics_keys_taken(NULL, NOW);
    ra_metrics_count_db_timeout(NULL);
    ra_metrics_count_throttled(NULL);
    memset(&metrics, 0, sizeof(metrics));
    ck_assert(!ra_metrics_layout_ok(&metrics));
    ra_metrics_init(&metrics);
    ck_assert(ra_metrics_layout_ok(&metrics));
}
END_TEST

/* ---------------------------------------------------- the text format */

/* Checks text against the exposition format 0.0.4: each family's HELP and
 * TYPE come before its samples, once; sample names belong to the family
 * (with _bucket/_sum/_count for histograms); labels are name="value";
 * histogram buckets are cumulative per label set and le="+Inf" equals
 * _count; counters end in _total. Returns NULL or the first violation. */
static const char *format_violation(char *text)
{
    regex_t sample_re, label_re;
    char family[128] = "", type[16] = "";
    double last_bucket = -1, inf = -1;
    char *state, *line;
    const char *why = NULL;

    ck_assert_int_eq(regcomp(&sample_re, "^([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{([^}]*)\\})? "
                             "(-?[0-9.e+]+|\\+Inf|NaN)$", REG_EXTENDED), 0);
    ck_assert_int_eq(regcomp(&label_re, "^[a-zA-Z_][a-zA-Z0-9_]*=\"[^\"\\\\\n]*\"(,|$)",
                             REG_EXTENDED), 0);
    ck_assert(text[strlen(text) - 1] == '\n');
    for (line = apr_strtok(text, "\n", &state); line && !why;
         line = apr_strtok(NULL, "\n", &state)) {
        regmatch_t m[5];
        if (!strncmp(line, "# HELP ", 7)) {
            char name[128];
            if (sscanf(line + 7, "%127s", name) != 1 || !strcmp(name, family)) {
                why = apr_pstrcat(pool, "HELP repeated or empty: ", line, NULL);
            }
            apr_cpystrn(family, name, sizeof(family));
            type[0] = '\0';
            continue;
        }
        if (!strncmp(line, "# TYPE ", 7)) {
            char name[128];
            if (sscanf(line + 7, "%127s %15s", name, type) != 2 || strcmp(name, family)) {
                why = apr_pstrcat(pool, "TYPE without its HELP: ", line, NULL);
            }
            else if (strcmp(type, "counter") && strcmp(type, "gauge")
                     && strcmp(type, "histogram")) {
                why = apr_pstrcat(pool, "unknown TYPE: ", line, NULL);
            }
            else if (!strcmp(type, "counter")
                     && (strlen(family) < 6 || strcmp(family + strlen(family) - 6, "_total"))) {
                why = apr_pstrcat(pool, "a counter without _total: ", line, NULL);
            }
            continue;
        }
        if (regexec(&sample_re, line, 5, m, 0) || !type[0]) {
            why = apr_pstrcat(pool, "not a sample of a typed family: ", line, NULL);
            break;
        }
        char *name = apr_pstrmemdup(pool, line, (apr_size_t)m[1].rm_eo);
        char *labels = m[3].rm_so >= 0 ? apr_pstrmemdup(pool, line + m[3].rm_so,
                                                        (apr_size_t)(m[3].rm_eo - m[3].rm_so))
                                       : "";
        double value = strtod(line + m[4].rm_so, NULL);
        for (const char *l = labels; *l && !why;) {
            regmatch_t lm[1];
            if (regexec(&label_re, l, 1, lm, 0)) {
                why = apr_pstrcat(pool, "bad label syntax: ", line, NULL);
                break;
            }
            l += lm[0].rm_eo;
        }
        const char *suffix = name + strlen(family);
        if (strncmp(name, family, strlen(family))
            || (strcmp(type, "histogram") ? *suffix != '\0'
                : strcmp(suffix, "_bucket") && strcmp(suffix, "_sum")
                  && strcmp(suffix, "_count"))) {
            why = apr_pstrcat(pool, "sample outside its family ", family, ": ", line, NULL);
        }
        else if (!strcmp(suffix, "_bucket")) {
            if (!strstr(labels, "le=\"")) {
                why = apr_pstrcat(pool, "bucket without le: ", line, NULL);
            }
            else if (value < last_bucket) {
                why = apr_pstrcat(pool, "buckets not cumulative: ", line, NULL);
            }
            last_bucket = value;
            if (strstr(labels, "le=\"+Inf\"")) {
                inf = value;
                last_bucket = -1;
            }
        }
        else if (!strcmp(suffix, "_count") && value != inf) {
            why = apr_pstrcat(pool, "_count differs from le=\"+Inf\": ", line, NULL);
        }
    }
    regfree(&sample_re);
    regfree(&label_re);
    return why;
}

START_TEST(test_prometheus_format)
{
    ra_metrics_init(&metrics);
    for (int op = 0; op < RA_METRIC_OPS; op++) {
        ra_metrics_count_request(&metrics, (ra_metric_op_e)op, 200 + op * 37);
        ra_metrics_observe_db_time(&metrics, (ra_metric_op_e)op, op * 1234);
        ra_metrics_observe_db_time(&metrics, (ra_metric_op_e)op, op * 987654);
    }
    ra_metrics_observe_batch(&metrics, 7);
    ra_metrics_observe_batch(&metrics, 70);
    ra_metrics_keys_taken(&metrics, NOW - 1);
    char *text = ra_metrics_prometheus(pool, &metrics, NOW);
    ck_assert_ptr_nonnull(text);
    ck_assert_ptr_null(strstr(text, "tenant="));
    const char *why = format_violation(apr_pstrdup(pool, text));
    ck_assert_msg(why == NULL, "%s", why);
    ck_assert(sample(text, "remoteassist_database_seconds_sum{operation=\"get\"}") > 0.98);
}
END_TEST

/* The check above can fail: each broken text is refused. */
START_TEST(test_format_check_refuses)
{
    static const char *const broken[] = {
        "x_total 1\n",
        "# HELP a_total h\n# TYPE a_total counter\nb_total 1\n",
        "# HELP a h\n# TYPE a counter\na 1\n",
        "# HELP h h\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\n",
        "# HELP h h\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\n"
        "h_count 3\n",
        "# HELP a_total h\n# TYPE a_total counter\na_total{x=y} 1\n",
    };
    for (size_t i = 0; i < COUNT_OF(broken); i++) {
        ck_assert_msg(format_violation(apr_pstrdup(pool, broken[i])) != NULL,
                      "accepted: %s", broken[i]);
    }
}
END_TEST

START_TEST(test_status_html)
{
    ra_metrics_init(&metrics);
    ra_metrics_count_request(&metrics, RA_METRIC_OP_GET, 200);
    ra_metrics_observe_db_time(&metrics, RA_METRIC_OP_GET, 2000);
    ra_metrics_count_auth_refusal(&metrics, RA_TOKEN_EXPIRED);
    const char *html = ra_metrics_status_html(pool, &metrics, NOW);
    ck_assert_ptr_nonnull(strstr(html, "<h2>mod_remoteassist</h2>"));
    ck_assert_ptr_nonnull(strstr(html, "<tr><td>get</td><td>1</td><td>0</td><td>0</td>"
                                       "<td>0</td><td>2.000</td></tr>"));
    ck_assert_ptr_nonnull(strstr(html, "<tr><td>RemoteAssistAuthRefusals_401_expired</td>"
                                       "<td>1</td></tr>"));
    ck_assert_ptr_null(strstr(html, "bad_signature")); /* zero refusals are left out */
    ck_assert_ptr_nonnull(strstr(html, "<tr><td>RemoteAssistTokenCacheHits</td><td>0</td>"));
    ck_assert_ptr_nonnull(strstr(html, "<tr><td>other</td><td>0</td><td>0</td><td>0</td>"
                                       "<td>0</td><td>-</td></tr>"));
}
END_TEST

Suite *metrics_suite(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = pool_tcase(s, "counts");
    tcase_add_test(tc, test_requests_by_class);
    tcase_add_test(tc, test_operation_names);
    tcase_add_test(tc, test_auth_refusals);
    tcase_add_test(tc, test_database_buckets);
    tcase_add_test(tc, test_batch_buckets);
    tcase_add_test(tc, test_scalars_and_key_age);
    tcase_add_test(tc, test_off_is_harmless);
    tc = pool_tcase(s, "rendering");
    tcase_add_test(tc, test_prometheus_format);
    tcase_add_test(tc, test_format_check_refuses);
    tcase_add_test(tc, test_status_html);
    return s;
}
