/* httpd glue: the module's configuration, per section (directory) and per
 * server, its directives and the start-up checks apachectl -t runs. */
#ifndef MOD_RA_CONFIG_H
#define MOD_RA_CONFIG_H

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"

#include <apr_global_mutex.h>

#include "mod_remoteassist.h"
#include "ra_entity.h"    /* ra_version_e */

/* What the configuration points at, declared here as httpd's mod_md_config.h
 * does, so that this header needs none of the units that make them. */
typedef struct ra_keyset ra_keyset_t;
typedef struct ra_key_source ra_key_source_t;
typedef struct ra_token_cache ra_token_cache_t;
typedef struct ra_commit_queue ra_commit_queue_t;
typedef struct ra_commit_shared ra_commit_shared_t;
typedef struct ra_throttle_limits ra_throttle_limits_t;

/* Mutex type (see the Mutex directive) that serialises SQLite writers. */
#define RA_SQLITE_MUTEX "remoteassist-sqlite"

#define RA_DEFAULT_LEEWAY 300
#define RA_DEFAULT_MAX_BODY 65536
#define RA_MAX_BODY_LIMIT (16 * 1024 * 1024)
#define RA_DEFAULT_PAGE_SIZE 100
#define RA_MAX_PAGE_SIZE 1000
/* Milliseconds one list or count statement may run. A page of a tenant's
 * partners takes milliseconds; the worst $filter seen (a scan of 70,000 rows)
 * 0.33 s: a second leaves room for that on a busy machine and still frees a
 * worker that a pathological query would hold. */
#define RA_DEFAULT_QUERY_TIMEOUT 1000
#define RA_MAX_QUERY_TIMEOUT 600000
/* Intune's partners onboard interactively; an hour covers a sign-in at the
 * partner's portal without leaving stale requests open for days. */
#define RA_DEFAULT_ONBOARDING_WINDOW 3600
/* Rows one group commit may hold: enough for every thread of a Debian
 * child (25) and then some, small enough that a batch on PostgreSQL (one
 * round trip a row) stays a few milliseconds. */
#define RA_DEFAULT_COMMIT_BATCH 64
#define RA_MAX_COMMIT_BATCH 1000
/* Creates that may wait at once in a SQLite database's shared commit
 * queue (RemoteAssistCommitQueue): by default one per worker thread of the
 * server (MaxRequestWorkers), so that the queue is never full; a slot is
 * about 3.4 KB of shared memory. */
#define RA_MAX_COMMIT_SLOTS 20000
/* Verified tokens a child remembers: a token is a few KB of claims, so this
 * is a few MB per child at most, for that many clients an hour. */
#define RA_DEFAULT_TOKEN_CACHE 1024
#define RA_MAX_TOKEN_CACHE 1000000
#define RA_MAX_ONBOARDING_WINDOW (30 * 86400)

/* The members of a section's configuration (ra_dir_config_t) and of a
 * server's (ra_server_config_t), each listed once with how it starts and
 * how an inner section or virtual host inherits it. The lists make the
 * structures, ra_config_create_* and ra_config_merge_* (mod_ra_config.c),
 * so a member cannot be left out of a merge, and
 * tools/check-config-members.py (tests/integration/test_config_members.py)
 * refuses a member declared beside them.
 *
 *   X(type, name, initial, how, arg) with how one of
 *     FLAGGED  the inner section's when it set the RA_SET_* flag arg
 *     UNLESS   the inner one's unless it is arg (its "unset" value)
 *     WITH     from the section the member arg comes from (parts of one
 *              directive that travel together)
 *     UNION    the inner and the outer ORed (the RA_SET_* flags)
 *     CHECKED  not merged: ra_config_check works it out for each server
 *              from that server's own merged sections, after every merge
 *     CHILD    not merged: per-child runtime state, made at post_config
 *              or child_init, after every merge; a virtual host gets the
 *              child's own (or its server's), never a copy of another's
 * The keys members start from RA_KEYS_DEFAULT_* of mod_ra_keys.h, which
 * mod_ra_config.c includes where the lists expand. */
#define RA_DIR_MEMBERS(X) \
    X(ra_version_e, version, RA_VERSION_V1, FLAGGED, RA_SET_VERSION) \
    /* a section's keys come from one place, a file or a URL: the three \
     * travel together */ \
    X(const ra_keyset_t *, keys, NULL, FLAGGED, RA_SET_KEYS) \
    X(ra_key_source_t *, key_url, NULL, FLAGGED, RA_SET_KEYS) \
    X(const char *, key_source, NULL, FLAGGED, RA_SET_KEYS) /* "Directive /path", \
                                                             * for logs */ \
    /* how key_url is fetched (ra_keys_fetch_t) */ \
    X(const char *, key_ca, NULL, UNLESS, NULL) /* RemoteAssistTokenCA */ \
    X(int, keys_refresh, RA_KEYS_DEFAULT_REFRESH, FLAGGED, RA_SET_KEYS_REFRESH) \
    X(int, keys_min_interval, RA_KEYS_DEFAULT_MIN_INTERVAL, FLAGGED, \
      RA_SET_KEYS_MIN_INTERVAL) \
    X(int, keys_allow_http, 0, FLAGGED, RA_SET_KEYS_ALLOW_HTTP) \
    X(apr_array_header_t *, audiences, NULL, UNLESS, NULL) /* NULL: Graph's */ \
    X(apr_array_header_t *, issuers, NULL, UNLESS, NULL)   /* NULL: any issuer */ \
    X(apr_array_header_t *, tenants, NULL, UNLESS, NULL)   /* NULL: any tenant */ \
    X(int, leeway, RA_DEFAULT_LEEWAY, FLAGGED, RA_SET_LEEWAY) \
    /* RemoteAssistBaseURL without a version at its end; its parts travel \
     * with it */ \
    X(const char *, base_url, NULL, UNLESS, NULL) \
    X(const char *, base_url_text, NULL, WITH, base_url) /* as written */ \
    X(int, base_url_versioned, 0, WITH, base_url) /* it ended in \
                                                   * base_url_version (an \
                                                   * older form) */ \
    X(ra_version_e, base_url_version, RA_VERSION_V1, WITH, base_url) \
    /* apr_ipsubnet_t *; NULL: none */ \
    X(apr_array_header_t *, trusted_proxies, NULL, UNLESS, NULL) \
    X(apr_off_t, max_body, RA_DEFAULT_MAX_BODY, FLAGGED, RA_SET_MAX_BODY) \
    X(int, page_size, RA_DEFAULT_PAGE_SIZE, FLAGGED, RA_SET_PAGE_SIZE) \
    X(int, query_timeout, RA_DEFAULT_QUERY_TIMEOUT, FLAGGED, \
      RA_SET_QUERY_TIMEOUT) /* milliseconds; 0: no bound */ \
    X(int, onboarding_window, RA_DEFAULT_ONBOARDING_WINDOW, FLAGGED, \
      RA_SET_ONBOARDING_WINDOW) /* seconds */ \
    /* RemoteAssistAuditEvents Off: no audit events written or served */ \
    X(int, audit_off, 0, FLAGGED, RA_SET_AUDIT) \
    /* SetHandler remoteassist applies here */ \
    X(int, serves, 0, FLAGGED, RA_SET_SERVES) \
    /* set by a directive or ra_config_check at a real start or restart: \
     * why this section answers 503 (a finding apachectl -t refuses); \
     * NULL: it serves */ \
    X(const char *, unusable, NULL, UNLESS, NULL) \
    X(unsigned, set, 0, UNION, 0) /* RA_SET_* of the members set here */

#define RA_SERVER_MEMBERS(X) \
    /* DBDriver / DBDParams as mod_dbd gets them */ \
    X(const char *, dbd_driver, NULL, UNLESS, NULL) \
    X(const char *, dbd_params, NULL, UNLESS, NULL) \
    /* DBDMin / DBDMax as mod_dbd gets them; 0: unset */ \
    X(int, dbd_min, 0, UNLESS, 0) \
    X(int, dbd_max, 0, UNLESS, 0) \
    X(const char *, legacy_tenant, NULL, UNLESS, NULL) /* RemoteAssistLegacyTenant */ \
    X(int, commit_batch, 0, UNLESS, 0)            /* RemoteAssistCommitBatch */ \
    X(int, audit_retention, 0, UNLESS, 0)         /* RemoteAssistAuditRetention, days */ \
    X(int, commit_slots, -1, UNLESS, -1)          /* RemoteAssistCommitQueue; -1: \
                                                   * MaxRequestWorkers */ \
    X(int, token_cache_size, -1, UNLESS, -1)      /* RemoteAssistTokenCache */ \
    X(int, metrics_off, 0, UNLESS, 0)             /* RemoteAssistMetrics Off (main server) */ \
    /* throttling, main server only: RemoteAssistThrottle Off; the limits \
     * (NULL: the defaults); RemoteAssistThrottleTable (0: the default) */ \
    X(int, throttle_off, 0, UNLESS, 0) \
    X(ra_throttle_limits_t *, throttle_limits, NULL, UNLESS, NULL) \
    X(int, throttle_entries, 0, UNLESS, 0) \
    /* a section that applies here (its own or the main server's) has \
     * SetHandler remoteassist, so its database is the module's */ \
    X(int, serves, 0, CHECKED, 0) \
    /* const char *: plain <Location> paths that serve the entity set */ \
    X(apr_array_header_t *, collections, NULL, CHECKED, 0) \
    /* ra_section_t: the sections that serve here */ \
    X(apr_array_header_t *, sections, NULL, CHECKED, 0) \
    /* the server's database as this process sees it, made at start-up \
     * when it serves */ \
    X(ra_database_t *, database, NULL, CHILD, 0) \
    /* the child's token cache, shared by its servers */ \
    X(ra_token_cache_t *, token_cache, NULL, CHILD, 0) \
    /* the child's group-commit queue, threaded MPMs only */ \
    X(ra_commit_queue_t *, commit_queue, NULL, CHILD, 0) \
    /* SQLite databases: the queue every child shares, made at start-up */ \
    X(ra_commit_shared_t *, commit_shared, NULL, CHILD, 0) \
    /* SQLite databases: the writers' mutex, made at start-up */ \
    X(apr_global_mutex_t *, sqlite_writer, NULL, CHILD, 0)

#define RA_CONFIG_MEMBER(type, name, initial, how, arg) type name;

typedef struct {
    RA_DIR_MEMBERS(RA_CONFIG_MEMBER)
} ra_dir_config_t;

/* Which members a section set, so merging keeps an inner value and
 * inherits the rest (mod_dbd's habit: no member relies on a sentinel). */
enum {
    RA_SET_VERSION = 1u << 0,
    RA_SET_LEEWAY = 1u << 1,
    RA_SET_MAX_BODY = 1u << 2,
    RA_SET_PAGE_SIZE = 1u << 3,
    RA_SET_ONBOARDING_WINDOW = 1u << 4,
    RA_SET_SERVES = 1u << 5,
    RA_SET_KEYS_REFRESH = 1u << 6,
    RA_SET_KEYS_MIN_INTERVAL = 1u << 7,
    RA_SET_KEYS_ALLOW_HTTP = 1u << 8,
    RA_SET_KEYS = 1u << 9,
    RA_SET_QUERY_TIMEOUT = 1u << 10,
    RA_SET_AUDIT = 1u << 11
};

/* One database of the module's, as this process sees it (mod_ra_startup.c). */
typedef struct ra_database_s ra_database_t;

/* A section that serves requests, as ra_config_check found it. */
typedef struct {
    const char *where;                /* its path, for messages */
    const ra_dir_config_t *cfg;       /* its effective configuration */
} ra_section_t;

/* mod_dbd's defaults, for the pool-size arithmetic (DBDMin, DBDMax) */
#define RA_DBD_DEFAULT_MIN 1
#define RA_DBD_DEFAULT_MAX 10

typedef struct {
    RA_SERVER_MEMBERS(RA_CONFIG_MEMBER)
} ra_server_config_t;

/* The module record's create/merge functions, the directive table and the
 * check_config hook: declared in mod_ra_hooks.h. */

/* Whether this run is apachectl -t (a configuration test), the only one in
 * which a finding may make httpd exit. */
int ra_config_testing(void);

static inline ra_server_config_t *ra_server_config(const server_rec *s)
{
    return ap_get_module_config(s->module_config, &remoteassist_module);
}

static inline const ra_dir_config_t *ra_dir_config(const request_rec *r)
{
    return ap_get_module_config(r->per_dir_config, &remoteassist_module);
}

/* The audiences a section accepts: its own, else Graph's two. */
const apr_array_header_t *ra_config_audiences(apr_pool_t *pool, const ra_dir_config_t *cfg);

#endif
