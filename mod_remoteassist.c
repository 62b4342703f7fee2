/* mod_remoteassist: answers Microsoft Graph's Create remoteAssistancePartner
 * (POST {root}/deviceManagement/remoteAssistancePartners) from an Apache site.
 *
 * This file holds the module record, the directives, the hooks and the
 * handler's top-level flow. The token, entity, OData and storage logic live
 * in src/ as units without httpd symbols. One request runs:
 *   path/method -> bearer token -> media types -> body -> JSON -> entity
 *   -> INSERT through mod_dbd's pool -> 201 with the OData entity.
 * Nothing mutable is shared between requests: configuration and keys are
 * built while the configuration is read and only read afterwards. */
#include <sys/stat.h>
#include <unistd.h>

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "ap_mpm.h"
#include <apr_dbd.h>
#include "mod_dbd.h"
#include "unixd.h"
#include "util_mutex.h"

#include <apr_global_mutex.h>
#include <apr_strings.h>
#include <apr_uri.h>
#include <apu_version.h>

#include <cjose/version.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "ra_entity.h"
#include "ra_odata.h"
#include "ra_store.h"
#include "ra_token.h"

#define RA_MODULE_VERSION "0.1.0"
#define RA_HANDLER "remoteassist"
/* Stable message ids, as httpd's own AH numbers but for this module. */
#define RALOGNO(n) "RA" #n ": "

#define RA_DEFAULT_LEEWAY 300
#define RA_DEFAULT_MAX_BODY 65536
#define RA_MAX_BODY_LIMIT (16 * 1024 * 1024)
#define RA_RETRY_AFTER "5"
/* Mutex type (see the Mutex directive) that serialises SQLite writers */
#define RA_SQLITE_MUTEX "remoteassist-sqlite"

module AP_MODULE_DECLARE_DATA remoteassist_module;

/* mod_dbd's functions are optional, so a configuration without mod_dbd gets
 * this module's explanation instead of an unresolved symbol. Set once after
 * the modules are loaded, only read by requests. */
static APR_OPTIONAL_FN_TYPE(ap_dbd_acquire) *dbd_acquire;

/* ---------------------------------------------------------------- config */

typedef struct {
    ra_version_e version;
    int version_set;
    const ra_keyset_t *keys;          /* NULL: unset */
    const char *key_source;           /* "RemoteAssistTokenKey /path", for logs */
    apr_array_header_t *audiences;    /* NULL: unset */
    apr_array_header_t *issuers;      /* NULL: unset (any issuer) */
    int leeway;
    int leeway_set;
    const char *base_url;             /* NULL: unset */
    apr_off_t max_body;
    int max_body_set;
    int serves;                       /* SetHandler remoteassist applies here */
    int serves_set;                   /* this section has a SetHandler */
} ra_dir_config_t;

typedef struct {
    const char *dbd_driver;   /* DBDriver / DBDParams as mod_dbd gets them */
    const char *dbd_params;
    int statement_prepared;   /* a RemoteAssist* directive is in this server */
    apr_global_mutex_t *sqlite_writer; /* set at start-up for SQLite databases */
} ra_server_config_t;

static void *create_dir_config(apr_pool_t *p, char *dir)
{
    ra_dir_config_t *cfg = apr_pcalloc(p, sizeof(*cfg));
    (void)dir;
    cfg->version = RA_VERSION_V1;
    cfg->leeway = RA_DEFAULT_LEEWAY;
    cfg->max_body = RA_DEFAULT_MAX_BODY;
    return cfg;
}

static void *merge_dir_config(apr_pool_t *p, void *basev, void *addv)
{
    const ra_dir_config_t *base = basev, *add = addv;
    ra_dir_config_t *cfg = apr_palloc(p, sizeof(*cfg));

    cfg->version = add->version_set ? add->version : base->version;
    cfg->version_set = add->version_set || base->version_set;
    cfg->keys = add->keys ? add->keys : base->keys;
    cfg->key_source = add->keys ? add->key_source : base->key_source;
    cfg->audiences = add->audiences ? add->audiences : base->audiences;
    cfg->issuers = add->issuers ? add->issuers : base->issuers;
    cfg->leeway = add->leeway_set ? add->leeway : base->leeway;
    cfg->leeway_set = add->leeway_set || base->leeway_set;
    cfg->base_url = add->base_url ? add->base_url : base->base_url;
    cfg->max_body = add->max_body_set ? add->max_body : base->max_body;
    cfg->max_body_set = add->max_body_set || base->max_body_set;
    cfg->serves = add->serves_set ? add->serves : base->serves;
    cfg->serves_set = add->serves_set;
    return cfg;
}

static void *create_server_config(apr_pool_t *p, server_rec *s)
{
    (void)s;
    return apr_pcalloc(p, sizeof(ra_server_config_t));
}

static void *merge_server_config(apr_pool_t *p, void *basev, void *addv)
{
    const ra_server_config_t *base = basev, *add = addv;
    ra_server_config_t *cfg = apr_palloc(p, sizeof(*cfg));

    cfg->dbd_driver = add->dbd_driver ? add->dbd_driver : base->dbd_driver;
    cfg->dbd_params = add->dbd_params ? add->dbd_params : base->dbd_params;
    /* mod_dbd overlays the main server's statements onto every vhost */
    cfg->statement_prepared = add->statement_prepared || base->statement_prepared;
    cfg->sqlite_writer = NULL;
    return cfg;
}

/* ------------------------------------------------------------ directives */

/* Every RemoteAssist* directive registers the insert with mod_dbd for the
 * server it appears in, once, while the configuration is read: mod_dbd
 * prepares it on each new pooled connection (as mod_authn_dbd does). */
static const char *use_server(cmd_parms *cmd)
{
    ra_server_config_t *scfg = ap_get_module_config(cmd->server->module_config,
                                                    &remoteassist_module);
    APR_OPTIONAL_FN_TYPE(ap_dbd_prepare) *prepare;

    if (scfg->statement_prepared) {
        return NULL;
    }
    prepare = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_prepare);
    if (!prepare) {
        return apr_psprintf(cmd->pool, "%s needs mod_dbd: add LoadModule dbd_module "
                            "before mod_remoteassist", cmd->cmd->name);
    }
    prepare(cmd->server, RA_STORE_INSERT_SQL, RA_STORE_INSERT_LABEL);
    scfg->statement_prepared = 1;
    return NULL;
}

static const char *set_api_version(cmd_parms *cmd, void *dcfg, const char *word)
{
    ra_dir_config_t *cfg = dcfg;
    if (!ra_version_parse(word, &cfg->version)) {
        return apr_psprintf(cmd->pool, "RemoteAssistApiVersion must be v1.0 or beta, "
                            "not '%s'", word);
    }
    cfg->version_set = 1;
    return use_server(cmd);
}

/* The last key file that parsed, per directive and path, is kept as bytes in
 * the process pool, which outlives configuration generations. A key file
 * that turns bad before a graceful restart then leaves the server serving
 * with the keys it had (a directive error would stop the parent, and the
 * site), and says why. At start-up and under apachectl -t a bad file is an
 * error as usual. Only bytes are kept: httpd unloads and reloads the module,
 * and libcjose with it, between generations, so cjose objects cannot
 * survive one. */
typedef struct {
    apr_pool_t *pool;   /* a child of the process pool; holds data */
    char *data;
    apr_size_t len;
} ra_good_key_file_t;

/* httpd reads its configuration twice at start-up (generations 0 and 1);
 * a later generation is a restart */
#define RA_FIRST_RESTART_GENERATION 2

static const ra_keyset_t *load_keys(cmd_parms *cmd, int secret, const char *path,
                                    const char **error)
{
    apr_pool_t *process_pool = cmd->server->process->pool;
    const char *name = apr_pstrcat(cmd->temp_pool, "remoteassist-keys:", cmd->cmd->name,
                                   ":", path, NULL);
    ra_good_key_file_t *good = NULL;
    ra_keyset_t *(*parse)(apr_pool_t *, const char *, const char *, apr_size_t,
                          const char **) = secret ? ra_keyset_parse_secret
                                                  : ra_keyset_parse_public;
    const ra_keyset_t *keys = NULL;
    char *data;
    apr_size_t len;

    /* several sections of one configuration may name the same file */
    apr_pool_userdata_get((void **)&keys, name, cmd->pool);
    if (keys) {
        return keys;
    }
    apr_pool_userdata_get((void **)&good, name, process_pool);
    *error = ra_keyset_read_file(cmd->temp_pool, path, &data, &len);
    if (!*error) {
        keys = parse(cmd->pool, path, data, len, error);
    }
    if (keys) {
        if (!good) {
            good = apr_pcalloc(process_pool, sizeof(*good));
            apr_pool_userdata_set(good, apr_pstrdup(process_pool, name),
                                  apr_pool_cleanup_null, process_pool);
        }
        else {
            apr_pool_destroy(good->pool);
        }
        apr_pool_create(&good->pool, process_pool);
        apr_pool_tag(good->pool, "remoteassist-keyfile");
        good->data = apr_pmemdup(good->pool, data, len);
        good->len = len;
    }
    else if (good && ap_state_query(AP_SQ_CONFIG_GEN) >= RA_FIRST_RESTART_GENERATION) {
        const char *why = *error;
        keys = parse(cmd->pool, path, good->data, good->len, error);
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, cmd->server, RALOGNO(00009)
                     "%s %s: %s; this restart keeps the keys the file held before: "
                     "fix it and restart again", cmd->cmd->name, path, why);
    }
    if (keys) {
        apr_pool_userdata_setn(keys, apr_pstrdup(cmd->pool, name), apr_pool_cleanup_null,
                               cmd->pool);
    }
    return keys;
}

/* RemoteAssistTokenKey and RemoteAssistTokenSecret; cmd->info says which. */
static const char *set_token_key(cmd_parms *cmd, void *dcfg, const char *file)
{
    ra_dir_config_t *cfg = dcfg;
    const char *path = ap_server_root_relative(cmd->pool, file);
    const char *error = NULL;

    if (cfg->keys) {
        return apr_psprintf(cmd->pool, "%s: this section already has %s; use a JWKS "
                            "file for several keys", cmd->cmd->name, cfg->key_source);
    }
    if (!path) {
        return apr_psprintf(cmd->pool, "%s: invalid file path '%s'", cmd->cmd->name, file);
    }
    cfg->keys = load_keys(cmd, cmd->info != NULL, path, &error);
    if (!cfg->keys) {
        return apr_psprintf(cmd->pool, RALOGNO(00008) "%s: %s", cmd->cmd->name, error);
    }
    cfg->key_source = apr_pstrcat(cmd->pool, cmd->cmd->name, " ", path, NULL);
    return use_server(cmd);
}

/* RemoteAssistTokenAudience / RemoteAssistTokenIssuer: the list replaces an
 * inherited one; cmd->info is the member's offset. */
static const char *add_token_value(cmd_parms *cmd, void *dcfg, const char *value)
{
    apr_array_header_t **list = (apr_array_header_t **)((char *)dcfg + (size_t)cmd->info);
    if (!*list) {
        *list = apr_array_make(cmd->pool, 2, sizeof(const char *));
    }
    APR_ARRAY_PUSH(*list, const char *) = value;
    return use_server(cmd);
}

static const char *set_leeway(cmd_parms *cmd, void *dcfg, const char *arg)
{
    ra_dir_config_t *cfg = dcfg;
    char *end;
    long value = strtol(arg, &end, 10);
    if (*arg == '\0' || *end != '\0' || value < 0 || value > 86400) {
        return "RemoteAssistTokenLeeway must be a number of seconds from 0 to 86400";
    }
    cfg->leeway = (int)value;
    cfg->leeway_set = 1;
    return use_server(cmd);
}

static const char *set_base_url(cmd_parms *cmd, void *dcfg, const char *arg)
{
    ra_dir_config_t *cfg = dcfg;
    apr_uri_t uri;
    size_t len = strlen(arg);

    if (apr_uri_parse(cmd->pool, arg, &uri) != APR_SUCCESS || !uri.scheme
        || (strcasecmp(uri.scheme, "https") && strcasecmp(uri.scheme, "http"))
        || !uri.hostname || uri.query || uri.fragment) {
        return apr_psprintf(cmd->pool, "RemoteAssistBaseURL must be an absolute http(s) "
                            "URL such as https://graph.contoso.com/v1.0, not '%s'", arg);
    }
    while (len > 0 && arg[len - 1] == '/') {
        len--; /* the service root never ends in '/' */
    }
    cfg->base_url = apr_pstrmemdup(cmd->pool, arg, len);
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
    cfg->max_body_set = 1;
    return use_server(cmd);
}

/* Three directives of other modules are read on the way, then declined so
 * their owner handles them as usual (httpd offers a declined directive to the
 * next module that has it):
 * - DBDriver and DBDParams: mod_dbd's server configuration is private, but
 *   the table must exist before mod_dbd's first connection prepares the
 *   insert. check_config verifies the module order this needs.
 * - SetHandler: core keeps it as an opaque expression, but check_config
 *   must know which sections serve this module, and map_to_storage whether
 *   a request is ours before the handler is chosen. */
static const char *observe_sethandler(cmd_parms *cmd, void *dcfg, const char *arg)
{
    ra_dir_config_t *cfg = dcfg;
    (void)cmd;
    cfg->serves = !strcasecmp(arg, RA_HANDLER);
    cfg->serves_set = 1;
    return DECLINE_CMD;
}

static const char *observe_dbd(cmd_parms *cmd, void *dcfg, const char *arg)
{
    ra_server_config_t *scfg = ap_get_module_config(cmd->server->module_config,
                                                    &remoteassist_module);
    (void)dcfg;
    if (cmd->info) {
        scfg->dbd_params = arg;
    }
    else {
        scfg->dbd_driver = arg;
    }
    return DECLINE_CMD;
}

#define RA_CONF (RSRC_CONF | ACCESS_CONF)

static const command_rec remoteassist_cmds[] = {
    AP_INIT_TAKE1("RemoteAssistApiVersion", set_api_version, NULL, RA_CONF,
                  "Graph API version served here: v1.0 (default) or beta"),
    AP_INIT_TAKE1("RemoteAssistTokenKey", set_token_key, NULL, RA_CONF,
                  "PEM public key, certificate or JWKS file that verifies bearer tokens"),
    AP_INIT_TAKE1("RemoteAssistTokenSecret", set_token_key, (void *)"secret", RA_CONF,
                  "File holding an HS256 shared secret that verifies bearer tokens"),
    AP_INIT_ITERATE("RemoteAssistTokenAudience", add_token_value,
                    (void *)APR_OFFSETOF(ra_dir_config_t, audiences), RA_CONF,
                    "Accepted aud values (default: https://graph.microsoft.com and "
                    "00000003-0000-0000-c000-000000000000)"),
    AP_INIT_ITERATE("RemoteAssistTokenIssuer", add_token_value,
                    (void *)APR_OFFSETOF(ra_dir_config_t, issuers), RA_CONF,
                    "Accepted iss values (default: any)"),
    AP_INIT_TAKE1("RemoteAssistTokenLeeway", set_leeway, NULL, RA_CONF,
                  "Seconds of clock skew allowed on exp, nbf and iat (default 300)"),
    AP_INIT_TAKE1("RemoteAssistBaseURL", set_base_url, NULL, RA_CONF,
                  "Public service root, e.g. https://graph.contoso.com/v1.0, for "
                  "@odata.context and Location behind a reverse proxy"),
    AP_INIT_TAKE1("RemoteAssistMaxBody", set_max_body, NULL, RA_CONF,
                  "Largest request body in bytes (default 65536)"),
    AP_INIT_TAKE1("DBDriver", observe_dbd, NULL, RSRC_CONF,
                  "(mod_dbd's; seen by mod_remoteassist to create its table)"),
    AP_INIT_TAKE1("DBDParams", observe_dbd, (void *)"params", RSRC_CONF,
                  "(mod_dbd's; seen by mod_remoteassist to create its table)"),
    AP_INIT_TAKE1("SetHandler", observe_sethandler, NULL, OR_FILEINFO,
                  "(core's; seen by mod_remoteassist to check its sections)"),
    { NULL }
};

/* ------------------------------------------------- start-up verification */

static const char *default_audiences[] = { "https://graph.microsoft.com",
                                           "00000003-0000-0000-c000-000000000000" };

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
            cfg = merge_dir_config(p, (void *)cfg, (void *)own);
        }
    }
    return cfg;
}

/* A section that serves our handler needs keys, and its server a database
 * this module can use. Returns the number of problems logged. */
static int check_sections(apr_pool_t *p, server_rec *s, apr_array_header_t *sections)
{
    const ra_server_config_t *scfg = ap_get_module_config(s->module_config,
                                                          &remoteassist_module);
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
        const ra_dir_config_t *cfg = effective_config(p, s, core, sections);
        if (!cfg->keys) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, RALOGNO(00002)
                         "%s (SetHandler remoteassist) has no RemoteAssistTokenKey or "
                         "RemoteAssistTokenSecret: every request would be refused", where);
            problems++;
        }
        else {
            ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, RALOGNO(00007)
                         "%s serves %s; %d key(s) from %s accept %s", where,
                         ra_version_name(cfg->version), ra_keyset_count(cfg->keys),
                         cfg->key_source, ra_keyset_algorithms(p, cfg->keys));
        }
        if (!scfg->dbd_driver) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, RALOGNO(00003)
                         "%s (SetHandler remoteassist) has no DBDriver in its server: "
                         "add DBDriver sqlite3 and DBDParams /path/to/partners.db", where);
            problems++;
        }
        else if (!ra_store_driver_supported(scfg->dbd_driver)) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, RALOGNO(00004)
                         "%s (SetHandler remoteassist): DBDriver %s is not supported; "
                         "use sqlite3 or pgsql", where, scfg->dbd_driver);
            problems++;
        }
        else if (!scfg->statement_prepared) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, RALOGNO(00005)
                         "%s (SetHandler remoteassist): no RemoteAssist* directive applies "
                         "to its server, so its statement is not prepared", where);
            problems++;
        }
    }
    return problems;
}

/* Runs under apachectl -t too (post_config does not). */
static int check_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                        server_rec *main_server)
{
    module *dbd = ap_find_linked_module("mod_dbd.c");
    int problems = 0;
    (void)pconf, (void)plog;

    for (module *m = ap_top_module; dbd && m && m != &remoteassist_module; m = m->next) {
        if (m == dbd) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, 0, main_server, RALOGNO(00006)
                         "mod_remoteassist is loaded before mod_dbd; load it after "
                         "(LoadModule dbd_module first) so it can see DBDriver");
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    for (server_rec *s = main_server; s; s = s->next) {
        core_server_config *core = ap_get_core_module_config(s->module_config);
        problems += check_sections(ptemp, s, core->sec_url);
        problems += check_sections(ptemp, s, core->sec_dir);
    }
    return problems ? HTTP_INTERNAL_SERVER_ERROR : OK;
}

/* The children, running as User, must be able to create SQLite's -wal and
 * -shm files beside the database. When httpd starts as root the parent has
 * just created the file, so hand it over, and warn about the directory. */
static void sqlite_ownership(apr_pool_t *p, server_rec *s, const char *path)
{
    struct stat st;
    char *dir = ap_make_dirstr_parent(p, path);
    uid_t uid = ap_unixd_config.user_id;
    gid_t gid = ap_unixd_config.group_id;
    static const char *const suffixes[] = { "", "-wal", "-shm" };

    if (geteuid() != 0) {
        return;
    }
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        const char *file = apr_pstrcat(p, path, suffixes[i], NULL);
        if (stat(file, &st) == 0 && st.st_uid == 0 && chown(file, uid, gid) != 0) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, errno, s, RALOGNO(00011)
                         "cannot give %s to User %s", file, ap_unixd_config.user_name);
        }
    }
    if (stat(*dir ? dir : ".", &st) == 0
        && !((st.st_uid == uid && (st.st_mode & S_IWUSR))
             || (st.st_gid == gid && (st.st_mode & S_IWGRP)) || (st.st_mode & S_IWOTH))) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, RALOGNO(00012)
                     "directory %s does not look writable by User %s: SQLite must "
                     "create %s-wal and -shm there, or every create fails with 503",
                     dir, ap_unixd_config.user_name, path);
    }
}

/* Whether this database was set up before in this httpd's life: the
 * process pool outlives restarts (and this module's own reloading). */
static int set_up_before(server_rec *s, const char *key, int mark)
{
    apr_pool_t *pool = s->process->pool;
    const char *name = apr_pstrcat(pool, "remoteassist-db-ready:", key, NULL);
    void *seen = NULL;
    apr_pool_userdata_get(&seen, name, pool);
    if (mark && !seen) {
        apr_pool_userdata_set("1", name, apr_pool_cleanup_null, pool);
    }
    return seen != NULL;
}

/* SQLite has one writer at a time. httpd's children otherwise take turns
 * through SQLite's busy handler, which sleeps while apr_dbd_sqlite3 holds its
 * process-wide mutex (stalling every database call of that child) and then
 * falls back to the driver's 100 ms sleeps: p99 of 0.3-0.6 s at 16
 * connections with two children. A cross-process mutex per database lets the
 * waiting child sleep in the kernel until the writer is done. */
static apr_global_mutex_t *sqlite_writer_mutex(apr_pool_t *pconf, server_rec *s,
                                               apr_hash_t *made, const char *path)
{
    apr_global_mutex_t *mutex = apr_hash_get(made, path, APR_HASH_KEY_STRING);
    if (!mutex) {
        const char *instance = apr_itoa(pconf, (int)apr_hash_count(made) + 1);
        apr_status_t rv = ap_global_mutex_create(&mutex, NULL, RA_SQLITE_MUTEX, instance,
                                                 s, pconf, 0);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, RALOGNO(00019)
                         "cannot create the %s mutex for %s", RA_SQLITE_MUTEX, path);
            return NULL;
        }
        apr_hash_set(made, path, APR_HASH_KEY_STRING, mutex);
    }
    return mutex;
}

/* Creates the table (and SQLite's WAL mode) once per database, in the parent,
 * before mod_dbd's first pooled connection prepares the insert. A database
 * that worked before and fails during a restart is logged, not fatal: the
 * site stays up and the running children keep their connections. */
static int setup_databases(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *main_server)
{
    apr_table_t *done = apr_table_make(ptemp, 4);
    apr_hash_t *mutexes = apr_hash_make(ptemp);

    for (server_rec *s = main_server; s; s = s->next) {
        ra_server_config_t *scfg = ap_get_module_config(s->module_config,
                                                        &remoteassist_module);
        const char *error, *key;
        if (!scfg->statement_prepared || !scfg->dbd_driver || !scfg->dbd_params
            || !ra_store_driver_supported(scfg->dbd_driver)) {
            continue;
        }
        int sqlite = !strcmp(scfg->dbd_driver, "sqlite3");
        if (sqlite && !(scfg->sqlite_writer = sqlite_writer_mutex(pconf, s, mutexes,
                                                                  scfg->dbd_params))) {
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        key = apr_pstrcat(ptemp, scfg->dbd_driver, ":", scfg->dbd_params, NULL);
        if (apr_table_get(done, key)) {
            continue;
        }
        apr_table_setn(done, key, "1");
        ra_store_setup_e state = ra_store_setup_database(ptemp, scfg->dbd_driver,
                                                         scfg->dbd_params, &error);
        /* the file path is not secret; PostgreSQL parameters may hold a password */
        const char *db = sqlite ? scfg->dbd_params : "the pgsql database";
        if (sqlite && state != RA_STORE_UNREACHABLE) {
            sqlite_ownership(ptemp, s, scfg->dbd_params);
        }
        if (state == RA_STORE_READY) {
            set_up_before(s, key, 1);
            ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, RALOGNO(00013)
                         "%s %s: table remote_assistance_partners ready",
                         scfg->dbd_driver, db);
        }
        else if (set_up_before(s, key, 0)) {
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, RALOGNO(00017)
                         "%s %s: %s; it worked before, so the restart goes on",
                         scfg->dbd_driver, db, error);
        }
        else if (state == RA_STORE_UNREACHABLE && !sqlite) {
            /* a database that starts after httpd is normal: answer 503 meanwhile */
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, RALOGNO(00014)
                         "%s: %s; creates answer 503 until it is reachable and has the "
                         "table of sql/schema.sql", db, error);
        }
        else {
            ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, RALOGNO(00015)
                         "%s %s: %s", scfg->dbd_driver, db, error);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    return OK;
}

static int post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                       server_rec *s)
{
    (void)pconf, (void)plog;
    /* the first of httpd's two configuration passes only tests the config */
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return OK;
    }
    ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, RALOGNO(00001)
                 "mod_remoteassist/" RA_MODULE_VERSION " running with jansson %s, "
                 "cjose %s, %s, apr-util %s", jansson_version_str(), cjose_version(),
                 OpenSSL_version(OPENSSL_VERSION), apu_version_string());
    return setup_databases(pconf, ptemp, s);
}

static int pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp)
{
    (void)plog, (void)ptemp;
    return ap_mutex_register(pconf, RA_SQLITE_MUTEX, NULL, APR_LOCK_DEFAULT, 0);
}

/* Each child reattaches the SQLite writer mutexes; servers that share a
 * database share its mutex, which is reattached once. */
static void child_init(apr_pool_t *p, server_rec *main_server)
{
    apr_hash_t *attached = apr_hash_make(p);

    for (server_rec *s = main_server; s; s = s->next) {
        ra_server_config_t *scfg = ap_get_module_config(s->module_config,
                                                        &remoteassist_module);
        apr_global_mutex_t **mine;
        if (!scfg->sqlite_writer) {
            continue;
        }
        mine = apr_hash_get(attached, &scfg->sqlite_writer, sizeof(scfg->sqlite_writer));
        if (!mine) {
            mine = apr_palloc(p, sizeof(*mine));
            *mine = scfg->sqlite_writer;
            apr_status_t rv = apr_global_mutex_child_init(
                mine, apr_global_mutex_lockfile(*mine), p);
            if (rv != APR_SUCCESS) {
                ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, RALOGNO(00021)
                             "cannot reattach the %s mutex; SQLite writers of this "
                             "child will wait through SQLite's busy handler", RA_SQLITE_MUTEX);
                *mine = NULL;
            }
            apr_hash_set(attached, apr_pmemdup(p, &scfg->sqlite_writer,
                                               sizeof(scfg->sqlite_writer)),
                         sizeof(scfg->sqlite_writer), mine);
        }
        scfg->sqlite_writer = *mine;
    }
}

/* The collection is not a file: skip the directory and file walk, as
 * mod_proxy does, so no stat() per request and no 403 from a DocumentRoot
 * the location happens to overlay. <Location> sections still apply.
 * httpd resets per_dir_config to the server's defaults just before
 * map_to_storage, so the decision is taken at translate_name, after the
 * first location walk, and kept in the request's config. */
static int translate_name(request_rec *r)
{
    const ra_dir_config_t *cfg = ap_get_module_config(r->per_dir_config,
                                                      &remoteassist_module);
    if (cfg && cfg->serves) {
        ap_set_module_config(r->request_config, &remoteassist_module, (void *)cfg);
    }
    return DECLINED;
}

static int map_to_storage(request_rec *r)
{
    return ap_get_module_config(r->request_config, &remoteassist_module) ? OK : DECLINED;
}

/* mod_dbd's per-connection hook: busy timeout and durability for SQLite
 * connections that carry our statement. */
static apr_status_t dbd_post_connect(apr_pool_t *pool, dbd_cfg_t *dbd_cfg, ap_dbd_t *dbd)
{
    const char *error;
    if (!apr_hash_get(dbd->prepared, RA_STORE_INSERT_LABEL, APR_HASH_KEY_STRING)) {
        return APR_SUCCESS;
    }
    error = ra_store_connection_setup(pool, dbd->driver, dbd->handle);
    if (error) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, dbd_cfg->server, RALOGNO(00016)
                     "%s", error);
        return APR_EGENERAL;
    }
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, dbd_cfg->server, RALOGNO(00018)
                 "new %s connection set up", apr_dbd_name(dbd->driver));
    return APR_SUCCESS;
}

/* --------------------------------------------------------------- request */

typedef struct {
    request_rec *r;
    const ra_dir_config_t *cfg;
    const char *request_id;
    const char *client_request_id;
} ra_request_t;

static int respond(const ra_request_t *rq, int status, const char *body, apr_size_t len)
{
    request_rec *r = rq->r;

    r->status = status;
    apr_table_setn(r->headers_out, "request-id", rq->request_id);
    apr_table_setn(r->headers_out, "client-request-id", rq->client_request_id);
    apr_table_setn(r->headers_out, "OData-Version", "4.0");
    if (apr_table_get(r->headers_in, "Origin")) {
        apr_table_setn(r->headers_out, "Access-Control-Allow-Origin", "*");
        apr_table_setn(r->headers_out, "Access-Control-Expose-Headers",
                       "Location, request-id, client-request-id, OData-Version");
    }
    if (body) {
        ap_set_content_type(r, RA_ODATA_CONTENT_TYPE);
        ap_set_content_length(r, (apr_off_t)len);
        ap_rwrite(body, (int)len, r);
    }
    /* Send now: otherwise httpd first tries to read a pipelined request and
     * only then writes the buffered response (measured 1.3-2.3x slower). */
    ap_rflush(r);
    return DONE;
}

/* A Graph error response. Logged at debug (the client's mistake) or error
 * (ours), never with the message, which may quote the request body. */
static int fail(const ra_request_t *rq, int status, const char *code, const char *message)
{
    apr_size_t len;
    char *body = ra_odata_error_body(rq->r->pool, code, message, rq->request_id,
                                     rq->client_request_id, apr_time_now(), &len);
    ap_log_rerror(APLOG_MARK, status >= 500 ? APLOG_ERR : APLOG_DEBUG, 0, rq->r,
                  RALOGNO(00030) "request-id=%s status=%d code=%s",
                  rq->request_id, status, code);
    return respond(rq, status, body, len);
}

/* 401 or 403 for a token that failed, with RFC 6750's WWW-Authenticate. */
static int fail_token(const ra_request_t *rq, ra_token_status_e status,
                      const ra_token_result_t *token)
{
    request_rec *r = rq->r;
    const char *realm = ap_escape_quotes(r->pool, ap_get_server_name(r));
    int forbidden = ra_token_status_is_forbidden(status);

    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, RALOGNO(00031)
                  "request-id=%s token refused: %s (%s; alg=%s kid=%s)", rq->request_id,
                  ra_token_status_name(status), token->reason,
                  token->alg ? token->alg : "-", token->kid ? token->kid : "-");
    if (status == RA_TOKEN_MISSING) {
        apr_table_setn(r->headers_out, "WWW-Authenticate",
                       apr_psprintf(r->pool, "Bearer realm=\"%s\"", realm));
    }
    else if (status == RA_TOKEN_NO_PERMISSION) {
        apr_table_setn(r->headers_out, "WWW-Authenticate",
                       apr_psprintf(r->pool, "Bearer realm=\"%s\", error=\"insufficient_scope\", "
                                    "scope=\"" RA_TOKEN_PERMISSION "\"", realm));
    }
    else if (!forbidden) {
        apr_table_setn(r->headers_out, "WWW-Authenticate",
                       apr_psprintf(r->pool, "Bearer realm=\"%s\", error=\"invalid_token\", "
                                    "error_description=\"%s\"", realm,
                                    ap_escape_quotes(r->pool, token->reason)));
    }
    if (forbidden) {
        return fail(rq, HTTP_FORBIDDEN, "Authorization_RequestDenied",
                    apr_pstrcat(r->pool, "Insufficient privileges to complete the "
                                "operation: ", token->reason, ".", NULL));
    }
    return fail(rq, HTTP_UNAUTHORIZED, "InvalidAuthenticationToken",
                status == RA_TOKEN_MISSING ? "Access token is empty."
                : apr_pstrcat(r->pool, "Access token validation failure: ",
                              token->reason, ".", NULL));
}

static int answer_options(const ra_request_t *rq)
{
    request_rec *r = rq->r;
    const char *wanted = apr_table_get(r->headers_in, "Access-Control-Request-Headers");

    apr_table_setn(r->headers_out, "Allow", "POST, OPTIONS");
    if (apr_table_get(r->headers_in, "Access-Control-Request-Method")) {
        apr_table_setn(r->headers_out, "Access-Control-Allow-Methods", "POST, OPTIONS");
        apr_table_setn(r->headers_out, "Access-Control-Allow-Headers",
                       wanted ? wanted : "Authorization, Content-Type, Accept, "
                                         "client-request-id");
        apr_table_setn(r->headers_out, "Access-Control-Max-Age", "600");
    }
    return respond(rq, HTTP_NO_CONTENT, NULL, 0);
}

/* Each step below returns OK to go on, or DONE once it has answered. */

/* Reads the whole body into *body (NUL-terminated). */
static int read_body(const ra_request_t *rq, char **body, apr_size_t *len)
{
    request_rec *r = rq->r;
    apr_off_t limit = rq->cfg->max_body;
    apr_size_t cap = (apr_size_t)limit + 1;
    const char *too_large = apr_psprintf(r->pool, "The request body exceeds %"
                                         APR_OFF_T_FMT " bytes.", limit);
    long got;

    if (ap_setup_client_block(r, REQUEST_CHUNKED_DECHUNK) != OK) {
        return fail(rq, HTTP_BAD_REQUEST, "BadRequest", "The request body is unreadable.");
    }
    if (r->remaining > limit) {
        return fail(rq, HTTP_REQUEST_ENTITY_TOO_LARGE, "RequestEntityTooLarge", too_large);
    }
    *body = apr_palloc(r->pool, cap + 1);
    *len = 0;
    if (ap_should_client_block(r)) {
        while ((got = ap_get_client_block(r, *body + *len, cap - *len)) > 0) {
            *len += (apr_size_t)got;
            if (*len == cap) {
                return fail(rq, HTTP_REQUEST_ENTITY_TOO_LARGE, "RequestEntityTooLarge",
                            too_large);
            }
        }
        if (got < 0) {
            return fail(rq, HTTP_BAD_REQUEST, "BadRequest",
                        "The request body could not be read completely.");
        }
    }
    (*body)[*len] = '\0';
    return OK;
}

/* Decodes and validates the body into partner. */
static int decode_partner(const ra_request_t *rq, const char *body, apr_size_t len,
                          ra_partner_t *partner)
{
    request_rec *r = rq->r;
    json_error_t jerr;
    const char *message;
    int valid;

    if (len == 0) {
        return fail(rq, HTTP_BAD_REQUEST, "BadRequest", "Empty Payload, JSON content expected.");
    }
    json_t *json = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!json) {
        return fail(rq, HTTP_BAD_REQUEST, "BadRequest",
                    apr_psprintf(r->pool, "Invalid JSON at line %d, column %d: %s.",
                                 jerr.line, jerr.column, jerr.text));
    }
    if (!json_is_object(json)) {
        json_decref(json);
        return fail(rq, HTTP_BAD_REQUEST, "BadRequest",
                    "The request body must be a JSON object (a remoteAssistancePartner).");
    }
    valid = ra_entity_from_json(r->pool, rq->cfg->version, json, partner, &message);
    json_decref(json);
    return valid ? OK : fail(rq, HTTP_BAD_REQUEST, "BadRequest", message);
}

static int store_partner(const ra_request_t *rq, const ra_partner_t *partner)
{
    request_rec *r = rq->r;
    const char *error;
    ap_dbd_t *dbd = dbd_acquire ? dbd_acquire(r) : NULL;

    if (!dbd) {
        apr_table_setn(r->headers_out, "Retry-After", RA_RETRY_AFTER);
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, RALOGNO(00040)
                      "request-id=%s no database connection (see mod_dbd's messages)",
                      rq->request_id);
        return fail(rq, HTTP_SERVICE_UNAVAILABLE, "ServiceNotAvailable",
                    "The partner store is unavailable; try again later.");
    }
    ra_store_conn_t conn = { dbd->driver, dbd->handle, dbd->pool, dbd->prepared };
    const ra_server_config_t *scfg = ap_get_module_config(r->server->module_config,
                                                          &remoteassist_module);
    apr_global_mutex_t *writer = !strcmp(apr_dbd_name(dbd->driver), "sqlite3")
                                 ? scfg->sqlite_writer : NULL;
    if (writer && apr_global_mutex_lock(writer) != APR_SUCCESS) {
        writer = NULL; /* SQLite's own locking still keeps the data safe */
    }
    ra_store_result_e stored = ra_store_insert(r->pool, &conn, partner, rq->cfg->version,
                                               &error);
    if (writer) {
        apr_global_mutex_unlock(writer);
    }
    switch (stored) {
    case RA_STORE_CREATED:
        return OK;
    case RA_STORE_CONFLICT:
        return fail(rq, HTTP_CONFLICT, "Conflict",
                    apr_psprintf(r->pool, "A remoteAssistancePartner with id '%s' "
                                 "already exists.", partner->id));
    case RA_STORE_FAILED:
        break;
    }
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, RALOGNO(00041)
                  "request-id=%s id=%s not stored: %s", rq->request_id, partner->id, error);
    apr_table_setn(r->headers_out, "Retry-After", RA_RETRY_AFTER);
    return fail(rq, HTTP_SERVICE_UNAVAILABLE, "ServiceNotAvailable",
                "The partner could not be stored; try again later.");
}

static int send_created(const ra_request_t *rq, const char *service_root,
                        const ra_partner_t *partner)
{
    request_rec *r = rq->r;
    apr_size_t len;
    json_t *entity = ra_entity_to_json(partner, rq->cfg->version,
                                       ra_odata_context_url(r->pool, service_root));
    char *body = ra_odata_dump(r->pool, entity, &len);

    json_decref(entity);
    apr_table_setn(r->headers_out, "Location",
                   ra_odata_entity_url(r->pool, service_root, partner->id));
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, RALOGNO(00020)
                  "request-id=%s created id=%s version=%s status=201", rq->request_id,
                  partner->id, ra_version_name(rq->cfg->version));
    return respond(rq, HTTP_CREATED, body, len);
}

/* Verifies the bearer token and the caller's permission. */
static int authorize(const ra_request_t *rq)
{
    request_rec *r = rq->r;
    const ra_dir_config_t *cfg = rq->cfg;
    const char *header = apr_table_get(r->headers_in, "Authorization");
    ra_token_result_t result;
    apr_array_header_t fallback = { r->pool, sizeof(const char *), 2, 2,
                                    (char *)default_audiences };
    ra_token_policy_t policy = { cfg->audiences ? cfg->audiences : &fallback,
                                 cfg->issuers, cfg->leeway };
    ra_token_status_e status;

    if (!cfg->keys) { /* check_config catches this for plain <Location>s */
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, RALOGNO(00032)
                      "request-id=%s no RemoteAssistTokenKey applies to %s",
                      rq->request_id, r->uri);
        return fail(rq, HTTP_INTERNAL_SERVER_ERROR, "InternalServerError",
                    "The service is not configured to verify tokens.");
    }
    const char *token = ra_token_from_authorization(r->pool, header);
    if (!token && header) {
        memset(&result, 0, sizeof(result));
        result.reason = "the Authorization header is not 'Bearer <JWT>'";
        return fail_token(rq, RA_TOKEN_MALFORMED, &result);
    }
    status = ra_token_verify(r->pool, cfg->keys, &policy, token, r->request_time, &result);
    if (status != RA_TOKEN_OK) {
        return fail_token(rq, status, &result);
    }
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, RALOGNO(00033)
                  "request-id=%s token ok: alg=%s kid=%s caller=%s %s", rq->request_id,
                  result.alg, result.kid ? result.kid : "-",
                  result.caller ? result.caller : "-",
                  result.application ? "application" : "delegated");
    return OK;
}

static const char *service_root(const ra_request_t *rq, const char *path)
{
    if (rq->cfg->base_url) {
        return rq->cfg->base_url;
    }
    return ap_construct_url(rq->r->pool, ap_escape_uri(rq->r->pool, path), rq->r);
}

static int handler(request_rec *r)
{
    ra_request_t rq;
    ra_partner_t partner;
    const char *path, *client_id;
    char *body = NULL;
    apr_size_t len = 0;
    int rc;

    if (!r->handler || strcmp(r->handler, RA_HANDLER)) {
        return DECLINED;
    }
    rq.r = r;
    rq.cfg = ap_get_module_config(r->per_dir_config, &remoteassist_module);
    rq.request_id = ra_odata_new_guid(r->pool);
    r->log_id = rq.request_id; /* ErrorLogFormat/LogFormat %L show it */
    client_id = apr_table_get(r->headers_in, "client-request-id");
    rq.client_request_id = ra_odata_client_request_id_ok(client_id) ? client_id
                                                                     : rq.request_id;
    path = ra_odata_service_path(r->pool, r->uri);
    if (!path) {
        return fail(&rq, HTTP_NOT_FOUND, "ResourceNotFound",
                    "Resource not found: this service answers POST "
                    "deviceManagement/remoteAssistancePartners only.");
    }
    if (r->method_number == M_OPTIONS) {
        return answer_options(&rq);
    }
    if (r->method_number != M_POST) {
        apr_table_setn(r->headers_out, "Allow", "POST, OPTIONS");
        return fail(&rq, HTTP_METHOD_NOT_ALLOWED, "MethodNotAllowed",
                    apr_psprintf(r->pool, "The HTTP method '%s' is not allowed on "
                                 "remoteAssistancePartners; use POST.", r->method));
    }
    if ((rc = authorize(&rq)) != OK) {
        return rc;
    }
    if (!ra_odata_is_json(r->pool, apr_table_get(r->headers_in, "Content-Type"))) {
        return fail(&rq, HTTP_UNSUPPORTED_MEDIA_TYPE, "UnsupportedMediaType",
                    "The request body must be application/json (UTF-8).");
    }
    if (!ra_odata_accepts_json(r->pool, apr_table_get(r->headers_in, "Accept"))) {
        return fail(&rq, HTTP_NOT_ACCEPTABLE, "NotAcceptable",
                    "The response is application/json, which the Accept header excludes.");
    }
    if ((rc = read_body(&rq, &body, &len)) != OK
        || (rc = decode_partner(&rq, body, len, &partner)) != OK) {
        return rc;
    }
    if (!partner.id) {
        partner.id = ra_odata_new_guid(r->pool);
    }
    if ((rc = store_partner(&rq, &partner)) != OK) {
        return rc;
    }
    return send_created(&rq, service_root(&rq, path), &partner);
}

static void retrieve_optional_fns(void)
{
    dbd_acquire = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_acquire);
}

static void register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_optional_fn_retrieve(retrieve_optional_fns, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_check_config(check_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_pre_config(pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_translate_name(translate_name, NULL, NULL, APR_HOOK_FIRST);
    ap_hook_map_to_storage(map_to_storage, NULL, NULL, APR_HOOK_FIRST);
    ap_hook_handler(handler, NULL, NULL, APR_HOOK_MIDDLE);
    /* first, so that an administrator's DBDInitSQL can override the PRAGMAs */
    APR_OPTIONAL_HOOK(dbd, post_connect, dbd_post_connect, NULL, NULL, APR_HOOK_FIRST);
}

AP_DECLARE_MODULE(remoteassist) = {
    STANDARD20_MODULE_STUFF,
    create_dir_config,
    merge_dir_config,
    create_server_config,
    merge_server_config,
    remoteassist_cmds,
    register_hooks,
#if defined(AP_MODULE_FLAG_ALWAYS_MERGE)
    AP_MODULE_FLAG_NONE
#endif
};
