/* httpd glue: configuration structures, their merge, the directives, and the
 * checks that make a bad configuration fail apachectl -t. */
#include "mod_ra_config.h"
#include "mod_ra_hooks.h"
#include "mod_ra_keys.h"

#include "http_core.h"
#include "ap_mpm.h"
#include <apr_dbd.h>
#include "mod_dbd.h"

#include <apr_network_io.h>
#include <apr_strings.h>
#include <apr_uri.h>

#include "ra_dbd.h"
#include "ra_route.h"

APLOG_USE_MODULE(remoteassist);

/* ------------------------------------------------------------ structures */

/* What the member lists of mod_ra_config.h expand to in create and merge. */
#define CREATE_MEMBER(type, name, initial, how, arg) cfg->name = (initial);
#define MERGE_MEMBER(type, name, initial, how, arg) MERGE_##how(name, arg);
#define MERGE_FLAGGED(name, flag) cfg->name = (add->set & (flag)) ? add->name : base->name
#define MERGE_UNLESS(name, unset) cfg->name = add->name != (unset) ? add->name : base->name
#define MERGE_WITH(name, leader) cfg->name = add->leader ? add->name : base->name
#define MERGE_UNION(name, unused) cfg->name = add->name | base->name
#define MERGE_CHECKED(name, unused) (void)0
#define MERGE_CHILD(name, unused) (void)0

void *ra_config_create_dir(apr_pool_t *p, char *dir)
{
    ra_dir_config_t *cfg = apr_pcalloc(p, sizeof(*cfg));
    (void)dir;
    RA_DIR_MEMBERS(CREATE_MEMBER)
    return cfg;
}

void *ra_config_merge_dir(apr_pool_t *p, void *basev, void *addv)
{
    const ra_dir_config_t *base = basev, *add = addv;
    ra_dir_config_t *cfg = apr_pcalloc(p, sizeof(*cfg));

    RA_DIR_MEMBERS(MERGE_MEMBER)
    return cfg;
}

void *ra_config_create_server(apr_pool_t *p, server_rec *s)
{
    ra_server_config_t *cfg = apr_pcalloc(p, sizeof(*cfg));
    (void)s;
    RA_SERVER_MEMBERS(CREATE_MEMBER)
    return cfg;
}

void *ra_config_merge_server(apr_pool_t *p, void *basev, void *addv)
{
    const ra_server_config_t *base = basev, *add = addv;
    ra_server_config_t *cfg = apr_pcalloc(p, sizeof(*cfg));

    RA_SERVER_MEMBERS(MERGE_MEMBER)
    return cfg;
}

static const char *const graph_audiences[] = { "https://graph.microsoft.com",
                                               "00000003-0000-0000-c000-000000000000" };

const apr_array_header_t *ra_config_audiences(apr_pool_t *pool, const ra_dir_config_t *cfg)
{
    apr_array_header_t *list;
    if (cfg->audiences) {
        return cfg->audiences;
    }
    list = apr_array_make(pool, 2, sizeof(const char *));
    for (size_t i = 0; i < sizeof(graph_audiences) / sizeof(graph_audiences[0]); i++) {
        APR_ARRAY_PUSH(list, const char *) = graph_audiences[i];
    }
    return list;
}

/* ------------------------------------------------------------ directives */

/* Every RemoteAssist* directive needs mod_dbd, loaded first. The module's
 * statements are not given to mod_dbd with ap_dbd_prepare, as mod_authn_dbd
 * does: mod_dbd prepares such statements on a new connection before any
 * post_connect hook runs, so on SQLite before the module's busy timeout, and
 * a connection opened while another process checkpoints the WAL failed with
 * "database is locked" (a 503). ra_startup_dbd_post_connect prepares them
 * after its settings, on the databases of the servers that serve a section
 * (ra_config_check). */
static const char *use_server(cmd_parms *cmd)
{
    if (!APR_RETRIEVE_OPTIONAL_FN(ap_dbd_acquire)) {
        return apr_psprintf(cmd->pool, "%s needs mod_dbd: add LoadModule dbd_module "
                            "before mod_remoteassist", cmd->cmd->name);
    }
    return NULL;
}

static const char *set_api_version(cmd_parms *cmd, void *dcfg, const char *word)
{
    ra_dir_config_t *cfg = dcfg;
    if (!ra_version_parse(word, &cfg->version)) {
        return apr_psprintf(cmd->pool, "RemoteAssistApiVersion must be v1.0 or beta, "
                            "not '%s'", word);
    }
    cfg->set |= RA_SET_VERSION;
    return use_server(cmd);
}

/* RemoteAssistTokenKey and RemoteAssistTokenSecret; cmd->info says which. */
static const char *set_token_key(cmd_parms *cmd, void *dcfg, const char *file)
{
    ra_dir_config_t *cfg = dcfg;
    const char *path = ap_server_root_relative(cmd->pool, file);
    const char *error = NULL;

    if (cfg->keys || cfg->key_url) {
        return apr_psprintf(cmd->pool, "%s: this section already has %s; use a JWKS "
                            "file for several keys", cmd->cmd->name, cfg->key_source);
    }
    if (!path) {
        return apr_psprintf(cmd->pool, "%s: invalid file path '%s'", cmd->cmd->name, file);
    }
    cfg->keys = ra_keys_load_file(cmd, cmd->info != NULL, path, &error);
    cfg->key_source = apr_pstrcat(cmd->pool, cmd->cmd->name, " ", path, NULL);
    /* only keys that loaded are what inner sections inherit as their keys */
    cfg->set |= cfg->keys ? RA_SET_KEYS : 0;
    if (!cfg->keys && ra_config_testing()) {
        return apr_psprintf(cmd->pool, RALOGNO(00008) "%s: %s", cmd->cmd->name, error);
    }
    if (!cfg->keys) {
        /* a directive error would end a real start or restart, site and all */
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, cmd->server, RALOGNO(00065)
                     "%s: %s; the section answers 503 until the file is corrected and "
                     "httpd restarted", cmd->cmd->name, error);
        cfg->unusable = "its key file cannot be used";
    }
    return use_server(cmd);
}

/* RemoteAssistTokenJwksUri and RemoteAssistTokenMetadataUrl (cmd->info):
 * keys fetched from a URL instead of a file. */
static const char *set_token_url(cmd_parms *cmd, void *dcfg, const char *url)
{
    ra_dir_config_t *cfg = dcfg;
    const char *error = NULL;

    if (cfg->keys || cfg->key_url) {
        return apr_psprintf(cmd->pool, "%s: this section already has %s; a section takes "
                            "its keys from one file or one URL", cmd->cmd->name,
                            cfg->key_source);
    }
    if (!(cfg->key_url = ra_keys_source(cmd, cmd->info != NULL, url, &error))) {
        return error;
    }
    cfg->key_source = ra_keys_source_name(cfg->key_url);
    cfg->set |= RA_SET_KEYS;
    return use_server(cmd);
}

/* How a section fetches its key_url: its RemoteAssistTokenCA and
 * RemoteAssistTokenKeys* members. */
static const ra_keys_fetch_t *key_fetch_of(apr_pool_t *p, const ra_dir_config_t *cfg)
{
    ra_keys_fetch_t *fetch = apr_palloc(p, sizeof(*fetch));
    fetch->ca = cfg->key_ca;
    fetch->refresh = cfg->keys_refresh;
    fetch->min_interval = cfg->keys_min_interval;
    fetch->allow_http = cfg->keys_allow_http;
    return fetch;
}

static const char *set_token_ca(cmd_parms *cmd, void *dcfg, const char *file)
{
    ra_dir_config_t *cfg = dcfg;
    const char *path = ap_server_root_relative(cmd->pool, file);
    apr_finfo_t info;

    if (!path || apr_stat(&info, path, APR_FINFO_TYPE, cmd->temp_pool) != APR_SUCCESS
        || info.filetype != APR_REG) {
        const char *why = apr_psprintf(cmd->pool, RALOGNO(00076) "RemoteAssistTokenCA: %s is "
                                       "not a readable file of PEM CA certificates",
                                       path ? path : file);
        if (ra_config_testing()) {
            return why;
        }
        /* a directive error would end a real start or restart, site and all */
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, cmd->server, "%s; the section answers 503 "
                     "until it is corrected and httpd restarted", why);
        cfg->unusable = "its RemoteAssistTokenCA file cannot be read";
    }
    cfg->key_ca = path;
    return use_server(cmd);
}

static const char *set_keys_allow_http(cmd_parms *cmd, void *dcfg, int on)
{
    ra_dir_config_t *cfg = dcfg;
    cfg->keys_allow_http = on;
    cfg->set |= RA_SET_KEYS_ALLOW_HTTP;
    return use_server(cmd);
}

/* RemoteAssistTokenAudience, RemoteAssistTokenIssuer and RemoteAssistTenant:
 * the list replaces an inherited one; cmd->info is the member's offset. */
static const char *add_list_value(cmd_parms *cmd, void *dcfg, const char *value)
{
    apr_array_header_t **list = (apr_array_header_t **)((char *)dcfg + (size_t)cmd->info);
    if (!*list) {
        *list = apr_array_make(cmd->pool, 2, sizeof(const char *));
    }
    APR_ARRAY_PUSH(*list, const char *) = value;
    return use_server(cmd);
}

/* The whole-number directives: where each goes and what it takes. */
typedef struct {
    size_t offset;    /* of an int in ra_dir_config_t, or ra_server_config_t */
    int server;       /* the server's configuration, not the section's */
    int main_only;    /* the main server's only (one value per child) */
    unsigned set;     /* RA_SET_* flag of a section's member */
    long min, max;
    const char *unit;
} ra_number_t;

static const ra_number_t leeway = { APR_OFFSETOF(ra_dir_config_t, leeway), 0, 0,
                                    RA_SET_LEEWAY, 0, 86400, "seconds" };
static const ra_number_t page_size = { APR_OFFSETOF(ra_dir_config_t, page_size), 0, 0,
                                       RA_SET_PAGE_SIZE, 1, RA_MAX_PAGE_SIZE, "entities" };
static const ra_number_t query_timeout = {
    APR_OFFSETOF(ra_dir_config_t, query_timeout), 0, 0, RA_SET_QUERY_TIMEOUT, 0,
    RA_MAX_QUERY_TIMEOUT, "milliseconds" };
static const ra_number_t onboarding_window = {
    APR_OFFSETOF(ra_dir_config_t, onboarding_window), 0, 0, RA_SET_ONBOARDING_WINDOW, 60,
    RA_MAX_ONBOARDING_WINDOW, "seconds" };
static const ra_number_t commit_batch = { APR_OFFSETOF(ra_server_config_t, commit_batch), 1,
                                          0, 0, 1, RA_MAX_COMMIT_BATCH, "rows" };
static const ra_number_t token_cache = {
    APR_OFFSETOF(ra_server_config_t, token_cache_size), 1, 1, 0, 0, RA_MAX_TOKEN_CACHE,
    "tokens" };
static const ra_number_t keys_refresh = {
    APR_OFFSETOF(ra_dir_config_t, keys_refresh), 0, 0, RA_SET_KEYS_REFRESH, 1,
    RA_KEYS_MAX_INTERVAL, "seconds" };
static const ra_number_t keys_min_interval = {
    APR_OFFSETOF(ra_dir_config_t, keys_min_interval), 0, 0, RA_SET_KEYS_MIN_INTERVAL, 1,
    RA_KEYS_MAX_INTERVAL, "seconds" };

static const char *set_number(cmd_parms *cmd, void *dcfg, const char *arg)
{
    const ra_number_t *number = cmd->info;
    char *end;
    long value = strtol(arg, &end, 10);

    if (*arg == '\0' || *end != '\0' || value < number->min || value > number->max) {
        return apr_psprintf(cmd->pool, "%s must be a number of %s from %ld to %ld, not '%s'",
                            cmd->cmd->name, number->unit, number->min, number->max, arg);
    }
    if (number->main_only && cmd->server->is_virtual) {
        return apr_psprintf(cmd->pool, "%s sizes what each child has one of: set it in the "
                            "main server configuration", cmd->cmd->name);
    }
    void *config = number->server ? (void *)ra_server_config(cmd->server) : dcfg;
    *(int *)((char *)config + number->offset) = (int)value;
    if (!number->server) {
        ((ra_dir_config_t *)dcfg)->set |= number->set;
    }
    return use_server(cmd);
}

static const char *set_max_body(cmd_parms *cmd, void *dcfg, const char *arg)
{
    ra_dir_config_t *cfg = dcfg;
    char *end;
    apr_off_t value;
    if (apr_strtoff(&value, arg, &end, 10) != APR_SUCCESS || *end || value < 2
        || value > RA_MAX_BODY_LIMIT) {
        return apr_psprintf(cmd->pool, "RemoteAssistMaxBody must be a number of bytes "
                            "from 2 to %d", RA_MAX_BODY_LIMIT);
    }
    cfg->max_body = value;
    cfg->set |= RA_SET_MAX_BODY;
    return use_server(cmd);
}

/* RemoteAssistBaseURL names the service root without the version: each
 * section appends its own (service_root in mod_ra_dispatch.c), so one value
 * at server level is right for v1.0 and beta alike. A value that ends in a
 * version, the form of version 0.2, is kept: the version is taken off here,
 * and ra_config_check refuses it in a section of another version. */
static const char *set_base_url(cmd_parms *cmd, void *dcfg, const char *arg)
{
    ra_dir_config_t *cfg = dcfg;
    apr_uri_t uri;
    size_t len = strlen(arg), path_len, segment_len;
    const char *path, *segment;

    if (apr_uri_parse(cmd->pool, arg, &uri) != APR_SUCCESS || !uri.scheme
        || (strcasecmp(uri.scheme, "https") && strcasecmp(uri.scheme, "http"))
        || !uri.hostname || uri.query || uri.fragment) {
        return apr_psprintf(cmd->pool, "RemoteAssistBaseURL must be an absolute http(s) "
                            "URL such as https://graph.contoso.com, not '%s'", arg);
    }
    while (len > 0 && arg[len - 1] == '/') {
        len--; /* the service root never ends in '/' */
    }
    /* without query and fragment the URL ends in its path, so a version
     * word as the path's last segment is the URL's last segment too */
    path = uri.path ? uri.path : "";
    path_len = strlen(path);
    while (path_len > 0 && path[path_len - 1] == '/') {
        path_len--;
    }
    for (segment_len = 0; segment_len < path_len; segment_len++) {
        if (path[path_len - segment_len - 1] == '/') {
            break;
        }
    }
    segment = apr_pstrmemdup(cmd->temp_pool, path + path_len - segment_len, segment_len);
    cfg->base_url_text = arg;
    cfg->base_url_versioned = segment_len < path_len
                              && ra_version_parse(segment, &cfg->base_url_version);
    if (cfg->base_url_versioned) {
        len -= segment_len + 1;
    }
    cfg->base_url = apr_pstrmemdup(cmd->pool, arg, len);
    return use_server(cmd);
}

/* RemoteAssistTrustedProxy: addresses or networks (mod_remoteip's forms:
 * 10.0.0.1, 10.0.0.0/8, 10.0.0.0/255.0.0.0, 2001:db8::/32) whose
 * X-Forwarded-Proto and X-Forwarded-Host name the public URL. The list
 * replaces an inherited one. */
static const char *add_trusted_proxy(cmd_parms *cmd, void *dcfg, const char *arg)
{
    ra_dir_config_t *cfg = dcfg;
    char *address = apr_pstrdup(cmd->temp_pool, arg);
    char *mask = strchr(address, '/');
    apr_ipsubnet_t *subnet;

    if (mask) {
        *mask++ = '\0';
    }
    if (apr_ipsubnet_create(&subnet, address, mask, cmd->pool) != APR_SUCCESS) {
        return apr_psprintf(cmd->pool, "RemoteAssistTrustedProxy takes IP addresses or "
                            "networks (10.0.0.1, 10.0.0.0/8, 2001:db8::/32), not '%s'", arg);
    }
    if (!cfg->trusted_proxies) {
        cfg->trusted_proxies = apr_array_make(cmd->pool, 2, sizeof(apr_ipsubnet_t *));
    }
    APR_ARRAY_PUSH(cfg->trusted_proxies, apr_ipsubnet_t *) = subnet;
    return use_server(cmd);
}

static const char *set_legacy_tenant(cmd_parms *cmd, void *dcfg, const char *arg)
{
    (void)dcfg;
    if (!*arg) {
        return "RemoteAssistLegacyTenant needs a tenant id";
    }
    ra_server_config(cmd->server)->legacy_tenant = arg;
    return use_server(cmd);
}

/* Some directives of other modules are read on the way, then declined so
 * their owner handles them as usual (httpd offers a declined directive to the
 * next module that has it):
 * - DBDriver and DBDParams: mod_dbd's server configuration is private, but
 *   the tables must exist before mod_dbd's first connection prepares the
 *   statements. ra_config_check verifies the module order this needs.
 * - DBDMin and DBDMax: how many connections each child may open, which the
 *   start-up compares with PostgreSQL's max_connections.
 * - SetHandler: core keeps it as an opaque expression, but the checks must
 *   know which sections serve this module. */
static const char *observe_sethandler(cmd_parms *cmd, void *dcfg, const char *arg)
{
    ra_dir_config_t *cfg = dcfg;
    (void)cmd;
    cfg->serves = !strcasecmp(arg, RA_HANDLER);
    cfg->set |= RA_SET_SERVES;
    return DECLINE_CMD;
}

/* DBDriver, DBDParams, DBDMin and DBDMax; cmd->info is the member's offset */
static const char *observe_dbd(cmd_parms *cmd, void *dcfg, const char *arg)
{
    void *member = (char *)ra_server_config(cmd->server) + (size_t)cmd->info;
    (void)dcfg;
    if ((size_t)cmd->info == APR_OFFSETOF(ra_server_config_t, dbd_min)
        || (size_t)cmd->info == APR_OFFSETOF(ra_server_config_t, dbd_max)) {
        *(int *)member = atoi(arg); /* mod_dbd refuses what is not a number */
    }
    else {
        *(const char **)member = arg;
    }
    return DECLINE_CMD;
}

#define RA_CONF (RSRC_CONF | ACCESS_CONF)

const command_rec ra_config_commands[] = {
    AP_INIT_TAKE1("RemoteAssistApiVersion", set_api_version, NULL, RA_CONF,
                  "Graph API version served here: v1.0 (default) or beta"),
    AP_INIT_TAKE1("RemoteAssistTokenKey", set_token_key, NULL, RA_CONF,
                  "PEM public key, certificate or JWKS file that verifies bearer tokens"),
    AP_INIT_TAKE1("RemoteAssistTokenSecret", set_token_key, (void *)"secret", RA_CONF,
                  "File holding an HS256 shared secret that verifies bearer tokens"),
    AP_INIT_TAKE1("RemoteAssistTokenJwksUri", set_token_url, NULL, RA_CONF,
                  "URL of a JWKS whose keys verify bearer tokens, fetched and refreshed"),
    AP_INIT_TAKE1("RemoteAssistTokenMetadataUrl", set_token_url, (void *)"metadata", RA_CONF,
                  "URL of an OpenID Connect discovery document: its jwks_uri's keys verify "
                  "bearer tokens, its issuer is the accepted iss"),
    AP_INIT_TAKE1("RemoteAssistTokenCA", set_token_ca, NULL, RA_CONF,
                  "PEM file of the CA certificates that the key URLs' servers are "
                  "verified with (default: the system's)"),
    AP_INIT_FLAG("RemoteAssistTokenAllowHttp", set_keys_allow_http, NULL, RA_CONF,
                 "On: key URLs may be plain http:// (test rigs only; default Off)"),
    AP_INIT_TAKE1("RemoteAssistTokenKeysRefresh", set_number, (void *)&keys_refresh, RA_CONF,
                  "Seconds between two fetches of the keys from a URL (default 3600)"),
    AP_INIT_TAKE1("RemoteAssistTokenKeysMinInterval", set_number,
                  (void *)&keys_min_interval, RA_CONF,
                  "Fewest seconds between two early fetches that unknown kids ask for "
                  "(default 60)"),
    AP_INIT_TAKE1("RemoteAssistTokenKeysCache", ra_keys_set_cache, NULL, RSRC_CONF,
                  "Directory where the last good keys from each URL are kept for the next "
                  "start (default: DefaultRuntimeDir/remoteassist-keys)"),
    AP_INIT_ITERATE("RemoteAssistTokenAudience", add_list_value,
                    (void *)APR_OFFSETOF(ra_dir_config_t, audiences), RA_CONF,
                    "Accepted aud values (default: https://graph.microsoft.com and "
                    "00000003-0000-0000-c000-000000000000)"),
    AP_INIT_ITERATE("RemoteAssistTokenIssuer", add_list_value,
                    (void *)APR_OFFSETOF(ra_dir_config_t, issuers), RA_CONF,
                    "Accepted iss values (default: any)"),
    AP_INIT_TAKE1("RemoteAssistTokenLeeway", set_number, (void *)&leeway, RA_CONF,
                  "Seconds of clock skew allowed on exp, nbf and iat (default 300)"),
    AP_INIT_ITERATE("RemoteAssistTenant", add_list_value,
                    (void *)APR_OFFSETOF(ra_dir_config_t, tenants), RA_CONF,
                    "Tenant ids (tid) this section serves (default: any)"),
    AP_INIT_TAKE1("RemoteAssistBaseURL", set_base_url, NULL, RA_CONF,
                  "Public service root without the version, e.g. https://graph.contoso.com, "
                  "for @odata.context, @odata.nextLink and Location behind a reverse proxy"),
    AP_INIT_ITERATE("RemoteAssistTrustedProxy", add_trusted_proxy, NULL, RA_CONF,
                    "Proxy addresses or networks whose X-Forwarded-Proto and "
                    "X-Forwarded-Host name the public URL (default: none)"),
    AP_INIT_TAKE1("RemoteAssistMaxBody", set_max_body, NULL, RA_CONF,
                  "Largest request body in bytes (default 65536)"),
    AP_INIT_TAKE1("RemoteAssistPageSize", set_number, (void *)&page_size, RA_CONF,
                  "Most entities in one page of a list (default 100)"),
    AP_INIT_TAKE1("RemoteAssistQueryTimeout", set_number, (void *)&query_timeout, RA_CONF,
                  "Milliseconds a list or $count query may run before it is stopped with "
                  "a 503 (default 1000, and 0 sets no bound)"),
    AP_INIT_TAKE1("RemoteAssistOnboardingWindow", set_number, (void *)&onboarding_window,
                  RA_CONF,
                  "Seconds from beginOnboarding to onboardingRequestExpiryDateTime "
                  "(default 3600)"),
    AP_INIT_TAKE1("RemoteAssistCommitBatch", set_number, (void *)&commit_batch, RSRC_CONF,
                  "Most creates one transaction commits together (default 64, and 1 gives "
                  "each create its own transaction)"),
    AP_INIT_TAKE1("RemoteAssistTokenCache", set_number, (void *)&token_cache, RSRC_CONF,
                  "Verified tokens each child remembers until they expire (default 1024, and "
                  "0 verifies every request's token)"),
    AP_INIT_FLAG("RemoteAssistMetrics", ra_observe_set_metrics, NULL, RSRC_CONF,
                 "Keep the counters of remoteassist-metrics and mod_status, main server "
                 "only (default On)"),
    AP_INIT_TAKE1("RemoteAssistLegacyTenant", set_legacy_tenant, NULL, RSRC_CONF,
                  "Tenant id that partners stored before tenants (schema version 1) "
                  "belong to, for the upgrade"),
    AP_INIT_TAKE1("DBDriver", observe_dbd,
                  (void *)APR_OFFSETOF(ra_server_config_t, dbd_driver), RSRC_CONF,
                  "(mod_dbd's; seen by mod_remoteassist to create its tables)"),
    AP_INIT_TAKE1("DBDParams", observe_dbd,
                  (void *)APR_OFFSETOF(ra_server_config_t, dbd_params), RSRC_CONF,
                  "(mod_dbd's; seen by mod_remoteassist to create its tables)"),
    AP_INIT_TAKE1("DBDMin", observe_dbd, (void *)APR_OFFSETOF(ra_server_config_t, dbd_min),
                  RSRC_CONF, "(mod_dbd's; seen by mod_remoteassist to size connections)"),
    AP_INIT_TAKE1("DBDMax", observe_dbd, (void *)APR_OFFSETOF(ra_server_config_t, dbd_max),
                  RSRC_CONF, "(mod_dbd's; seen by mod_remoteassist to size connections)"),
    AP_INIT_TAKE1("SetHandler", observe_sethandler, NULL, OR_FILEINFO,
                  "(core's; seen by mod_remoteassist to check its sections)"),
    { NULL }
};

/* ------------------------------------------------------- start-up checks */

/* Whether the plain (non-regex) section outer applies wherever inner does. */
static int section_contains(const core_dir_config *outer, const core_dir_config *inner)
{
    size_t len;
    if (outer == inner) {
        return 1;
    }
    if (outer->r || !outer->d || !inner->d) {
        return 0;
    }
    len = strlen(outer->d);
    return !strncmp(outer->d, inner->d, len)
           && (len == 0 || outer->d[len - 1] == '/' || inner->d[len] == '/'
               || inner->d[len] == '\0');
}

/* Our configuration as a section sees it: the server's defaults, then each
 * section that contains it, in configuration order. */
static const ra_dir_config_t *effective_config(apr_pool_t *p, server_rec *s,
                                               const core_dir_config *target,
                                               apr_array_header_t *sections)
{
    const ra_dir_config_t *cfg = ap_get_module_config(s->lookup_defaults,
                                                      &remoteassist_module);
    ap_conf_vector_t **sec = (ap_conf_vector_t **)sections->elts;

    for (int i = 0; i < sections->nelts; i++) {
        const ra_dir_config_t *own = ap_get_module_config(sec[i], &remoteassist_module);
        if (own && section_contains(ap_get_core_module_config(sec[i]), target)) {
            cfg = ra_config_merge_dir(p, (void *)cfg, (void *)own);
        }
    }
    return cfg;
}

/* A plain <Location> that serves the entity set is claimed by the module
 * for every URL form below it (see ra_dispatch_translate_name); one whose
 * path does not end in the entity set's could serve nothing. */
static int note_collection(apr_pool_t *pconf, server_rec *s, const core_dir_config *core,
                           const char *where)
{
    ra_server_config_t *scfg = ra_server_config(s);
    size_t len = strlen(core->d), suffix = sizeof(RA_ROUTE_COLLECTION_PATH) - 1;

    while (len > 1 && core->d[len - 1] == '/') {
        len--;
    }
    if (len < suffix || strncasecmp(core->d + len - suffix, RA_ROUTE_COLLECTION_PATH, suffix)) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, RALOGNO(00010)
                     "<Location %s> (SetHandler remoteassist) does not end in "
                     RA_ROUTE_COLLECTION_PATH ": its path is the entity set itself, e.g. "
                     "/v1.0" RA_ROUTE_COLLECTION_PATH, where);
        return 1;
    }
    if (!scfg->collections) {
        scfg->collections = apr_array_make(pconf, 2, sizeof(const char *));
    }
    APR_ARRAY_PUSH(scfg->collections, const char *) = apr_pstrmemdup(pconf, core->d, len);
    return 0;
}

/* A problem of a serving section: under apachectl -t a refusal; at a real
 * start or restart the section answers 503 instead (its first problem says
 * why in the log), so that the rest of the site serves on. Returns 1. */
static int section_problem(const ra_dir_config_t *own, const char *why)
{
    ra_dir_config_t *section = (ra_dir_config_t *)own; /* the section's own, in pconf */
    if (!section->unusable) {
        section->unusable = why;
    }
    return 1;
}

/* The module claims the service root's own resources ($metadata, the
 * service document, deviceManagement) under each collection's version root
 * at translate_name, before any <Location> of another handler could: such a
 * <Location> never applies to them, which apachectl -t says (a warning: the
 * site still serves). */
static void check_service_claims(server_rec *s, apr_array_header_t *sections)
{
    const apr_array_header_t *list = ra_server_config(s)->collections;
    ap_conf_vector_t **sec = (ap_conf_vector_t **)sections->elts;

    for (int i = 0; list && i < sections->nelts; i++) {
        const core_dir_config *core = ap_get_core_module_config(sec[i]);
        const ra_dir_config_t *own = ap_get_module_config(sec[i], &remoteassist_module);
        if (!core->d || core->r || (own && own->serves)) {
            continue;
        }
        for (int c = 0; c < list->nelts; c++) {
            const char *collection = APR_ARRAY_IDX(list, c, const char *);
            size_t root_len = strlen(collection) - (sizeof(RA_ROUTE_COLLECTION_PATH) - 1);
            ra_route_t route;
            if (root_len > 0 && !strncasecmp(core->d, collection, root_len)
                && ra_route_service(core->d + root_len, &route)) {
                ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, RALOGNO(00151)
                             "<Location %s> does not apply: the module answers that path "
                             "itself, as part of the service that <Location %s> serves, "
                             "under that <Location>'s configuration; move what it sets "
                             "there", core->d, collection);
            }
        }
    }
}

/* A section that serves our handler needs keys, and its server a database
 * this module can use; global, when set, is a problem of the whole
 * configuration that every serving section shares. Returns the number of
 * problems logged. */
static int check_sections(apr_pool_t *pconf, apr_pool_t *p, server_rec *s,
                          apr_array_header_t *sections, int locations, const char *global)
{
    ra_server_config_t *scfg = ra_server_config(s);
    ap_conf_vector_t **sec = (ap_conf_vector_t **)sections->elts;
    int problems = 0;

    for (int i = 0; i < sections->nelts; i++) {
        const core_dir_config *core = ap_get_core_module_config(sec[i]);
        /* httpd creates a module's part of a section only when one of its
         * directives (SetHandler included, see observe_sethandler) is there */
        const ra_dir_config_t *own = ap_get_module_config(sec[i], &remoteassist_module);
        const char *where = core->d ? core->d : "(server)";
        if (!own || !own->serves) {
            continue;
        }
        scfg->serves = 1;
        if (global) {
            section_problem(own, global); /* counted once, where it was found */
        }
        /* in pconf: the health check reads it while the generation serves */
        const ra_dir_config_t *cfg = effective_config(pconf, s, core, sections);
        ra_section_t *section = apr_array_push(scfg->sections);
        section->where = where;
        section->cfg = cfg;
        if (locations && core->d && !core->r && note_collection(pconf, s, core, where)) {
            problems += section_problem(own, "its <Location> is not the entity set");
        }
        if (cfg->unusable) {
            problems++; /* a key file the directive could not use, logged then */
        }
        else if (!cfg->keys && !cfg->key_url) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, RALOGNO(00002)
                         "%s (SetHandler remoteassist) has no RemoteAssistTokenKey, "
                         "RemoteAssistTokenSecret, RemoteAssistTokenJwksUri or "
                         "RemoteAssistTokenMetadataUrl: every request would be refused",
                         where);
            problems += section_problem(own, "it has no key that verifies tokens");
        }
        else if (cfg->key_url && ra_keys_check_source(s, cfg->key_url, key_fetch_of(p, cfg),
                                                      where)) {
            problems += section_problem(own, "its key URL's settings were refused");
        }
        else {
            ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, RALOGNO(00007)
                         "%s serves %s; %s", where, ra_version_name(cfg->version),
                         cfg->keys ? apr_psprintf(p, "%d key(s) from %s accept %s",
                                                  ra_keyset_count(cfg->keys), cfg->key_source,
                                                  ra_keyset_algorithms(p, cfg->keys))
                                   : apr_pstrcat(p, "keys from ", cfg->key_source, NULL));
        }
        if (cfg->base_url_versioned && cfg->base_url_version != cfg->version) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, RALOGNO(00011)
                         "%s (SetHandler remoteassist) serves %s, but its RemoteAssistBaseURL "
                         "%s ends in %s: name the service root without the version "
                         "(RemoteAssistBaseURL %s), and each section appends its own", where,
                         ra_version_name(cfg->version), cfg->base_url_text,
                         ra_version_name(cfg->base_url_version), cfg->base_url);
            problems += section_problem(own, "its RemoteAssistBaseURL names another version");
        }
        if (!scfg->dbd_driver) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, RALOGNO(00003)
                         "%s (SetHandler remoteassist) has no DBDriver in its server: "
                         "add DBDriver sqlite3 and DBDParams /path/to/partners.db", where);
            problems += section_problem(own, "its server has no DBDriver");
        }
        else if (ra_dbd_dialect(scfg->dbd_driver) == RA_DIALECT_UNSUPPORTED) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, RALOGNO(00004)
                         "%s (SetHandler remoteassist): DBDriver %s is not supported; "
                         "use sqlite3 or pgsql", where, scfg->dbd_driver);
            problems += section_problem(own, "its server's DBDriver is not supported");
        }
    }
    return problems;
}

int ra_config_testing(void)
{
    return ap_state_query(AP_SQ_RUN_MODE) == AP_SQ_RM_CONFIG_TEST;
}

/* Refuses a configuration with problems only under apachectl -t (which
 * apachectl graceful and service apache2 reload run first): httpd runs this
 * hook again at every real start and restart and exits when it fails, which
 * would take the whole site down. There, each problem's section answers 503
 * and the rest of the site serves. */
int ra_config_check(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                    server_rec *main_server)
{
    module *dbd = ap_find_linked_module("mod_dbd.c");
    const char *global = NULL;
    int problems = 0;
    (void)plog;

    for (module *m = ap_top_module; dbd && m && m != &remoteassist_module; m = m->next) {
        if (m == dbd) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, 0, main_server, RALOGNO(00006)
                         "mod_remoteassist is loaded before mod_dbd; load it after "
                         "(LoadModule dbd_module first) so it can see DBDriver");
            global = "mod_remoteassist is loaded before mod_dbd";
            problems++;
            break;
        }
    }
    for (server_rec *s = main_server; s; s = s->next) {
        core_server_config *core = ap_get_core_module_config(s->module_config);
        ra_server_config_t *scfg = ra_server_config(s);
        scfg->collections = NULL;
        scfg->sections = apr_array_make(pconf, 2, sizeof(ra_section_t));
        scfg->serves = 0;
        problems += check_sections(pconf, ptemp, s, core->sec_url, 1, global);
        problems += check_sections(pconf, ptemp, s, core->sec_dir, 0, global);
        check_service_claims(s, core->sec_url);
    }
    if (problems && !ra_config_testing()) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, main_server, RALOGNO(00064)
                     "%d problem(s) of mod_remoteassist's configuration above: the sections "
                     "they name answer 503 until it is corrected and httpd restarted; the "
                     "rest of the site serves (apachectl -t lists them)", problems);
        return OK;
    }
    return problems ? HTTP_INTERNAL_SERVER_ERROR : OK;
}
