/* httpd glue: the module's configuration, per section (directory) and per
 * server, its directives and the start-up checks apachectl -t runs. */
#ifndef MOD_RA_CONFIG_H
#define MOD_RA_CONFIG_H

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"

#include <apr_global_mutex.h>

#include "mod_ra_keys.h"
#include "ra_commit.h"
#include "ra_entity.h"
#include "ra_token.h"
#include "ra_token_cache.h"

#define RA_MODULE_VERSION "0.2.0"
#define RA_HANDLER "remoteassist"

/* Stable message ids, as httpd's own AH numbers but for this module; each
 * number is used once (tests/integration/test_docs.py checks). */
#define RALOGNO(n) "RA" #n ": "

/* Mutex type (see the Mutex directive) that serialises SQLite writers. */
#define RA_SQLITE_MUTEX "remoteassist-sqlite"

#define RA_DEFAULT_LEEWAY 300
#define RA_DEFAULT_MAX_BODY 65536
#define RA_MAX_BODY_LIMIT (16 * 1024 * 1024)
#define RA_DEFAULT_PAGE_SIZE 100
#define RA_MAX_PAGE_SIZE 1000
/* Intune's partners onboard interactively; an hour covers a sign-in at the
 * partner's portal without leaving stale requests open for days. */
#define RA_DEFAULT_ONBOARDING_WINDOW 3600
/* Rows one group commit may hold: enough for every thread of a Debian
 * child (25) and then some, small enough that a batch on PostgreSQL (one
 * round trip a row) stays a few milliseconds. */
#define RA_DEFAULT_COMMIT_BATCH 64
#define RA_MAX_COMMIT_BATCH 1000
/* Verified tokens a child remembers: a token is a few KB of claims, so this
 * is a few MB per child at most, for that many clients an hour. */
#define RA_DEFAULT_TOKEN_CACHE 1024
#define RA_MAX_TOKEN_CACHE 1000000
#define RA_MAX_ONBOARDING_WINDOW (30 * 86400)

extern module AP_MODULE_DECLARE_DATA remoteassist_module;

typedef struct {
    ra_version_e version;
    const ra_keyset_t *keys;          /* NULL: unset */
    ra_key_source_t *key_url;         /* RemoteAssistTokenJwksUri/MetadataUrl; NULL: unset */
    const char *key_source;           /* "RemoteAssistTokenKey /path", for logs */
    ra_keys_fetch_t key_fetch;        /* how key_url is fetched */
    apr_array_header_t *audiences;    /* NULL: unset (Graph's audiences) */
    apr_array_header_t *issuers;      /* NULL: unset (any issuer) */
    apr_array_header_t *tenants;      /* NULL: unset (any tenant) */
    int leeway;
    const char *base_url;             /* NULL: unset; without a version at its end */
    const char *base_url_text;        /* RemoteAssistBaseURL as written, for messages */
    int base_url_versioned;           /* it ended in base_url_version (an older form) */
    ra_version_e base_url_version;
    apr_array_header_t *trusted_proxies;  /* apr_ipsubnet_t *; NULL: unset (none) */
    apr_off_t max_body;
    int page_size;
    int onboarding_window;            /* seconds */
    int serves;                       /* SetHandler remoteassist applies here */
    const char *unusable;             /* set by ra_config_check at a real start or
                                       * restart: why this section answers 503 (a
                                       * finding apachectl -t refuses); NULL: serves */
    unsigned set;                     /* RA_SET_* of the members set in this section */
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
    RA_SET_KEYS_ALLOW_HTTP = 1u << 8
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
    const char *dbd_driver;   /* DBDriver / DBDParams as mod_dbd gets them */
    const char *dbd_params;
    int dbd_min, dbd_max;     /* DBDMin / DBDMax as mod_dbd gets them; 0: unset */
    int serves;               /* set by ra_config_check: a section that applies
                               * here (its own or the main server's) has
                               * SetHandler remoteassist, so its database is
                               * the module's */
    const char *legacy_tenant;            /* RemoteAssistLegacyTenant */
    int commit_batch;                     /* RemoteAssistCommitBatch; 0: unset */
    int token_cache_size;                 /* RemoteAssistTokenCache; -1: unset */
    ra_token_cache_t *token_cache;        /* the child's, shared by its servers */
    ra_commit_queue_t *commit_queue;      /* per child, threaded MPMs only */
    const char *keys_cache;               /* RemoteAssistTokenKeysCache (main server) */
    apr_global_mutex_t *sqlite_writer;    /* set at start-up for SQLite databases */
    apr_array_header_t *collections;      /* const char *: plain <Location> paths
                                           * that serve the entity set */
    apr_array_header_t *sections;         /* ra_section_t: what serves here */
    ra_database_t *database;              /* set at start-up when serves */
    int metrics_off;                      /* RemoteAssistMetrics Off (main server) */
} ra_server_config_t;

extern const command_rec ra_config_commands[];

void *ra_config_create_dir(apr_pool_t *p, char *dir);
void *ra_config_merge_dir(apr_pool_t *p, void *basev, void *addv);
void *ra_config_create_server(apr_pool_t *p, server_rec *s);
void *ra_config_merge_server(apr_pool_t *p, void *basev, void *addv);

/* Whether this run is apachectl -t (a configuration test), the only one in
 * which a finding may make httpd exit. */
int ra_config_testing(void);

/* check_config hook: runs under apachectl -t too (post_config does not). */
int ra_config_check(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                    server_rec *main_server);

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
