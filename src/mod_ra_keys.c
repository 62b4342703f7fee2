/* httpd glue: signing keys from a URL, fetched by one child for all (see
 * mod_ra_keys.h).
 *
 * Why this shape: httpd has no parent-process thread under the forked MPMs
 * (mod_watchdog refuses parent watchdogs there), so the fetcher is
 * mod_watchdog's singleton, a thread in exactly one child at a time, as
 * User. It stores each good bundle in anonymous shared memory made by the
 * parent before the children fork, which every child reads without a lock
 * (ra_shared_keys_t's sequence lock) when the publication count changes, and in
 * a cache file, which the parent reads at the next start or restart. */
#include "mod_ra_keys.h"

#include <errno.h>
#include <unistd.h>

#include "http_core.h"
#include "http_log.h"
#include "mod_watchdog.h"
#include "unixd.h"

#include <apr_escape.h>
#include <apr_file_info.h>
#include <apr_file_io.h>
#include <apr_shm.h>
#include <apr_strings.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "mod_remoteassist.h"
#include "mod_ra_hooks.h"
#include "mod_ra_observe.h"

APLOG_USE_MODULE(remoteassist);

/* libcurl's limits for one document: the identity provider is one HTTPS
 * request away, and a request may be waiting for the answer. */
#define FETCH_CONNECT_TIMEOUT 5L
#define FETCH_TIMEOUT 10L
#define FETCH_MAX_REDIRECTS 3L

#define WATCHDOG_NAME "remoteassist-keys"

struct ra_key_source {
    int metadata;               /* an OpenID Connect discovery document */
    const char *url;
    const char *name;           /* directive and URL, for log lines */
    ra_keys_fetch_t fetch;      /* from the sections that use it (check_config) */
    const char *configured_by;  /* the first such section; NULL: unused */
    /* set up by post_config */
    const char *cache_file;
    ra_shared_keys_t *shared;   /* in shared memory */
    ra_local_keys_t *local;     /* this process's keys */
};

/* RemoteAssistTokenKeysCache of this configuration, in the configuration
 * pool (the directive is the main server's alone). */
#define CACHE_DIR_KEY "remoteassist-keys-cache"

/* Every source of this configuration, in the configuration pool. */
#define SOURCES_KEY "remoteassist-key-sources"

static apr_array_header_t *sources_of(apr_pool_t *pconf)
{
    apr_array_header_t *sources = NULL;
    apr_pool_userdata_get((void **)&sources, SOURCES_KEY, pconf);
    if (!sources) {
        sources = apr_array_make(pconf, 2, sizeof(ra_key_source_t *));
        apr_pool_userdata_setn(sources, SOURCES_KEY, apr_pool_cleanup_null, pconf);
    }
    return sources;
}

/* ------------------------------------------------------------ key files */

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

const ra_keyset_t *ra_keys_load_file(cmd_parms *cmd, int secret, const char *path,
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

/* ------------------------------------------------------- configuration */

const char *ra_keys_set_cache(cmd_parms *cmd, void *dcfg, const char *dir)
{
    const char *error = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    const char *path = ap_server_root_relative(cmd->pool, dir);
    (void)dcfg;

    if (error) {
        return error;
    }
    if (!path) {
        return apr_psprintf(cmd->pool, "RemoteAssistTokenKeysCache: invalid path '%s'", dir);
    }
    apr_pool_userdata_setn(path, CACHE_DIR_KEY, apr_pool_cleanup_null, cmd->pool);
    return NULL;
}

const char *ra_keys_cache_directory(apr_pool_t *pconf)
{
    const char *dir = NULL;
    apr_pool_userdata_get((void **)&dir, CACHE_DIR_KEY, pconf);
    return dir ? dir : ap_runtime_dir_relative(pconf, RA_KEYS_DEFAULT_CACHE);
}

ra_key_source_t *ra_keys_source(cmd_parms *cmd, int metadata, const char *url,
                                const char **error)
{
    apr_array_header_t *sources = sources_of(cmd->pool);
    ra_key_source_t *src;

    /* plain http:// is checked once every section's directives are read */
    if ((*error = ra_url_keys_check_url(cmd->temp_pool, url, 1)) != NULL) {
        *error = apr_psprintf(cmd->pool, "%s: '%s' is %s", cmd->cmd->name, url, *error);
        return NULL;
    }
    for (int i = 0; i < sources->nelts; i++) {
        src = APR_ARRAY_IDX(sources, i, ra_key_source_t *);
        if (src->metadata == metadata && !strcmp(src->url, url)) {
            return src;
        }
    }
    src = apr_pcalloc(cmd->pool, sizeof(*src));
    src->metadata = metadata;
    src->url = apr_pstrdup(cmd->pool, url);
    src->name = apr_pstrcat(cmd->pool, cmd->cmd->name, " ", url, NULL);
    APR_ARRAY_PUSH(sources, ra_key_source_t *) = src;
    return src;
}

const char *ra_keys_source_name(const ra_key_source_t *src)
{
    return src->name;
}

int ra_keys_check_source(server_rec *s, ra_key_source_t *src, const ra_keys_fetch_t *fetch,
                         const char *where)
{
    const ra_keys_fetch_t *had = &src->fetch;

    if (!fetch->allow_http && !strncasecmp(src->url, "http:", 5)) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, RALOGNO(00060)
                     "%s: %s is plain http://, which anyone on the way can answer with "
                     "their own keys; use https://, or RemoteAssistTokenAllowHttp On "
                     "for a test rig", where, src->name);
        return 1;
    }
    if (!src->configured_by) {
        src->fetch = *fetch;
        src->configured_by = where;
        return 0;
    }
    if (had->refresh != fetch->refresh || had->min_interval != fetch->min_interval
        || had->allow_http != fetch->allow_http
        || (had->ca ? !fetch->ca || strcmp(had->ca, fetch->ca) : fetch->ca != NULL)) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, RALOGNO(00061)
                     "%s and %s both use %s, with different RemoteAssistTokenCA, "
                     "RemoteAssistTokenAllowHttp, RemoteAssistTokenKeysRefresh or "
                     "RemoteAssistTokenKeysMinInterval: one fetch serves both, so give "
                     "them the same", src->configured_by, where, src->name);
        return 1;
    }
    return 0;
}

/* ------------------------------------------------------------ fetching */

typedef struct {
    char *data;
    apr_size_t len;
    int too_large;
} fetch_buffer_t;

static size_t fetch_write(char *ptr, size_t size, size_t n, void *userdata)
{
    fetch_buffer_t *buf = userdata;
    size_t bytes = size * n;

    if (bytes > RA_URL_KEYS_MAX_DOCUMENT - buf->len) {
        buf->too_large = 1;
        return 0; /* libcurl ends the transfer */
    }
    memcpy(buf->data + buf->len, ptr, bytes);
    buf->len += bytes;
    return bytes;
}

/* One document from url (HTTPS, verified; http only when allowed; at most
 * FETCH_MAX_REDIRECTS redirects, on the same schemes), NUL-terminated in
 * *data: NULL, or why not. */
static const char *fetch(apr_pool_t *p, const ra_key_source_t *src, const char *url,
                         char **data, apr_size_t *len)
{
    const char *schemes = src->fetch.allow_http ? "http,https" : "https";
    char why[CURL_ERROR_SIZE] = "";
    fetch_buffer_t buf = { apr_palloc(p, RA_URL_KEYS_MAX_DOCUMENT + 1), 0, 0 };
    struct curl_slist *headers = curl_slist_append(NULL, "Accept: application/json");
    const char *error = NULL;
    long status = 0;
    CURL *curl = curl_easy_init();
    CURLcode rc;

    if (!curl || !headers) {
        curl_slist_free_all(headers);
        curl_easy_cleanup(curl);
        return "libcurl cannot start a transfer";
    }
    /* the options that keep the fetch safe: a libcurl that refuses one (the
     * _STR ones are 7.85's) must not fetch without it; CAINFO alone, not the
     * system's CAs too */
    if (curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, schemes) != CURLE_OK
        || curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, schemes) != CURLE_OK
        || curl_easy_setopt(curl, CURLOPT_MAXREDIRS, FETCH_MAX_REDIRECTS) != CURLE_OK
        || curl_easy_setopt(curl, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2) != CURLE_OK
        || curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK
        || curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK
        || curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE,
                            (curl_off_t)RA_URL_KEYS_MAX_DOCUMENT) != CURLE_OK
        || (src->fetch.ca && (curl_easy_setopt(curl, CURLOPT_CAINFO, src->fetch.ca) != CURLE_OK
                              || curl_easy_setopt(curl, CURLOPT_CAPATH, NULL) != CURLE_OK))) {
        curl_slist_free_all(headers);
        curl_easy_cleanup(curl);
        return "this libcurl refuses an option the fetch needs (protocols, redirects, TLS "
               "version, verification or size)";
    }
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L); /* a thread among httpd's */
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, FETCH_CONNECT_TIMEOUT);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, FETCH_TIMEOUT);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, fetch_write);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &buf);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, why);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "mod_remoteassist/" RA_MODULE_VERSION);

    rc = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (buf.too_large || rc == CURLE_FILESIZE_EXCEEDED) {
        error = apr_psprintf(p, "%s: the document exceeds %d bytes", url,
                             RA_URL_KEYS_MAX_DOCUMENT);
    }
    else if (rc != CURLE_OK) {
        error = apr_psprintf(p, "%s: %s", url, *why ? why : curl_easy_strerror(rc));
    }
    else if (status != 200) {
        error = apr_psprintf(p, "%s: HTTP status %ld", url, status);
    }
    else {
        buf.data[buf.len] = '\0';
        *data = buf.data;
        *len = buf.len;
    }
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    return error;
}

/* The keys src's URL leads to, as a snapshot (from p's scratch): NULL with
 * *error when any step fails. */
static ra_fetched_keys_t *fetch_keys(apr_pool_t *p, const ra_key_source_t *src,
                                     const char **error)
{
    const char *jwks_uri = src->url, *issuer = NULL;
    char *doc;
    apr_size_t len;

    if ((*error = fetch(p, src, src->url, &doc, &len)) != NULL) {
        return NULL;
    }
    if (src->metadata) {
        *error = ra_url_keys_parse_metadata(p, doc, len, src->fetch.allow_http, &jwks_uri,
                                            &issuer);
        if (*error) {
            *error = apr_psprintf(p, "%s: %s", src->url, *error);
            return NULL;
        }
        if ((*error = fetch(p, src, jwks_uri, &doc, &len)) != NULL) {
            return NULL;
        }
    }
    ra_fetched_keys_t *snap = ra_fetched_keys_from_jwks(p, src->url, jwks_uri, issuer, doc,
                                                        len, error);
    if (!snap) {
        *error = apr_psprintf(p, "%s: %s", jwks_uri, *error);
    }
    return snap;
}

/* ---------------------------------------------------------- the cache */

/* <dir>/<SHA-256 of kind and URL>.json: a name per source, whatever its URL holds. */
static const char *cache_file_name(apr_pool_t *pconf, const char *dir,
                                   const ra_key_source_t *src)
{
    const char *id = apr_pstrcat(pconf, src->metadata ? "metadata " : "jwks ", src->url,
                                 NULL);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    if (!EVP_Digest(id, strlen(id), digest, &n, EVP_sha256(), NULL)) {
        return NULL;
    }
    return apr_pstrcat(pconf, dir, "/", apr_pescape_hex(pconf, digest, n, 0), ".json", NULL);
}

/* Whether src's cache file holds exactly these bytes. */
static int cache_file_holds(apr_pool_t *p, const ra_key_source_t *src, const char *bundle,
                            apr_size_t len)
{
    char *data;
    apr_size_t data_len;
    return !ra_keyset_read_file(p, src->cache_file, &data, &data_len) && data_len == len
           && !memcmp(data, bundle, len);
}

/* The bundle in src's cache file, written whole and then renamed, so that
 * a reader never sees half of one: NULL, or why not. A file that holds it
 * already only gets the time, which says how fresh it is. The file is read
 * rather than trusted to match the shared block: an earlier write may have
 * failed, or the fetcher died before it. */
static const char *persist(apr_pool_t *p, const ra_key_source_t *src, const char *bundle,
                           apr_size_t len, apr_time_t now)
{
    char *temp = apr_pstrcat(p, src->cache_file, ".XXXXXX", NULL);
    char errbuf[128];
    apr_file_t *file;
    apr_status_t rv;

    if (cache_file_holds(p, src, bundle, len)
        && apr_file_mtime_set(src->cache_file, now, p) == APR_SUCCESS) {
        return NULL;
    }
    rv = apr_file_mktemp(&file, temp, APR_FOPEN_CREATE | APR_FOPEN_WRITE | APR_FOPEN_EXCL
                                      | APR_FOPEN_BINARY, p);
    if (rv == APR_SUCCESS) {
        rv = apr_file_write_full(file, bundle, len, NULL);
        if (rv == APR_SUCCESS) {
            rv = apr_file_sync(file);
        }
        apr_status_t closed = apr_file_close(file);
        rv = rv != APR_SUCCESS ? rv : closed;
        if (rv == APR_SUCCESS) {
            rv = apr_file_perms_set(temp, APR_FPROT_UREAD | APR_FPROT_UWRITE
                                          | APR_FPROT_GREAD | APR_FPROT_WREAD);
            rv = rv == APR_ENOTIMPL ? APR_SUCCESS : rv;
        }
        if (rv == APR_SUCCESS) {
            rv = apr_file_rename(temp, src->cache_file, p);
        }
        if (rv != APR_SUCCESS) {
            apr_file_remove(temp, p);
        }
    }
    return rv == APR_SUCCESS ? NULL
                             : apr_psprintf(p, "%s: %s", src->cache_file,
                                            apr_strerror(rv, errbuf, sizeof(errbuf)));
}

/* Stores the keys of src's cache file in its shared block and schedules the
 * refresh from the file's time. 0 when there is no usable file. */
static int seed_from_cache(apr_pool_t *ptemp, server_rec *s, ra_key_source_t *src)
{
    apr_finfo_t info;
    char *data;
    apr_size_t len;
    const char *error;
    apr_time_t now = apr_time_now();

    if (apr_stat(&info, src->cache_file, APR_FINFO_MTIME, ptemp) != APR_SUCCESS) {
        return 0; /* never fetched, or the cache was cleared */
    }
    ra_fetched_keys_t *snap = NULL;
    error = ra_keyset_read_file(ptemp, src->cache_file, &data, &len);
    if (!error) {
        snap = ra_fetched_keys_decode(ptemp, src->url, data, len, &error);
    }
    if (!snap) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, RALOGNO(00056)
                     "%s: the cache file %s is not usable (%s); fetching instead",
                     src->name, src->cache_file, error);
        return 0;
    }
    apr_time_t fetched = info.mtime < now ? info.mtime : now;
    ra_shared_keys_store(src->shared, snap->bundle, snap->bundle_len);
    ra_shared_keys_schedule(src->shared, fetched + apr_time_from_sec(src->fetch.refresh));
    ra_metrics_keys_taken(ra_observe_metrics(), fetched);
    ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, RALOGNO(00055)
                 "%s: %d key(s) (kid %s) from the cache file %s, fetched %" APR_TIME_T_FMT
                 " s ago", src->name, ra_keyset_count(snap->keys),
                 ra_keyset_kids(ptemp, snap->keys), src->cache_file,
                 apr_time_sec(now - fetched));
    ra_fetched_keys_destroy(snap);
    return 1;
}

/* ------------------------------------------------------------ refresh */

/* One fetch of src's keys, begun with ra_shared_keys_begin: a good one goes to
 * the shared block (if it changed) and the cache file; a failed one keeps
 * the last good keys. Logs the URL and the outcome, never key material. */
static void refresh(apr_pool_t *p, server_rec *s, ra_key_source_t *src)
{
    const char *error = NULL;
    ra_fetched_keys_t *snap = fetch_keys(p, src, &error);
    apr_interval_time_t refresh = apr_time_from_sec(src->fetch.refresh);
    apr_interval_time_t min_interval = apr_time_from_sec(src->fetch.min_interval);
    apr_time_t now = apr_time_now();

    ra_metrics_count_key_refresh(ra_observe_metrics(), snap != NULL);
    if (!snap) {
        int keys = ra_shared_keys_published(src->shared) > 0;
        apr_interval_time_t delay = ra_shared_keys_end(src->shared, now, 0, refresh,
                                                       min_interval);
        ap_log_error(APLOG_MARK, keys ? APLOG_WARNING : APLOG_ERR, 0, s, RALOGNO(00052)
                     "%s: %s; %s; failure %u, next try in %" APR_TIME_T_FMT " s",
                     src->name, error,
                     keys ? "the last good keys stay in use"
                          : "no keys yet: requests answer 503 until a fetch succeeds",
                     ra_shared_keys_failures(src->shared), apr_time_sec(delay));
        return;
    }
    ra_metrics_keys_taken(ra_observe_metrics(), now);
    int changed = !ra_shared_keys_holds(src->shared, snap->bundle, snap->bundle_len);
    if (changed) {
        ra_shared_keys_store(src->shared, snap->bundle, snap->bundle_len);
    }
    if ((error = persist(p, src, snap->bundle, snap->bundle_len, now)) != NULL) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, RALOGNO(00054)
                     "%s: cannot write the key cache %s; a restart while the identity "
                     "provider is unreachable would start without these keys", src->name,
                     error);
    }
    apr_interval_time_t delay = ra_shared_keys_end(src->shared, now, 1, refresh, min_interval);
    if (changed) {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, RALOGNO(00050)
                     "%s: new keys from %s: %d key(s) (kid %s)%s%s; next refresh in "
                     "%" APR_TIME_T_FMT " s", src->name, snap->jwks_uri,
                     ra_keyset_count(snap->keys), ra_keyset_kids(p, snap->keys),
                     snap->issuer ? ", issuer " : "", snap->issuer ? snap->issuer : "",
                     apr_time_sec(delay));
        for (int i = 0; i < snap->skipped->nelts; i++) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, RALOGNO(00053)
                         "%s: left out %s", src->name,
                         APR_ARRAY_IDX(snap->skipped, i, const char *));
        }
    }
    else {
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, RALOGNO(00051)
                     "%s: the keys from %s are unchanged; next refresh in %" APR_TIME_T_FMT
                     " s", src->name, snap->jwks_uri, apr_time_sec(delay));
    }
    ra_fetched_keys_destroy(snap);
}

typedef struct {
    server_rec *s;
    apr_array_header_t *sources; /* ra_key_source_t *: those in use */
} ra_keys_watch_t;

/* mod_watchdog's singleton: in one child at a time, every
 * AP_WD_TM_SLICE; fetches what is due or was asked for. */
static apr_status_t keys_watchdog(int state, void *data, apr_pool_t *pool)
{
    ra_keys_watch_t *watch = data;

    if (state == AP_WATCHDOG_STATE_STOPPING) {
        return APR_SUCCESS;
    }
    for (int i = 0; i < watch->sources->nelts; i++) {
        ra_key_source_t *src = APR_ARRAY_IDX(watch->sources, i, ra_key_source_t *);
        if (state == AP_WATCHDOG_STATE_STARTING) {
            ra_shared_keys_adopt(src->shared);
        }
        if (ra_shared_keys_begin(src->shared, apr_time_now())) {
            refresh(pool, watch->s, src);
            apr_pool_clear(pool);
        }
    }
    return APR_SUCCESS; /* anything else would stop the callbacks for good */
}

/* ------------------------------------------------------------ start-up */

/* The cache directory; one the module creates as root is given to User,
 * whose fetcher writes there (an existing one is left as it is). */
static const char *cache_directory(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s)
{
    const char *dir = ra_keys_cache_directory(pconf);
    apr_finfo_t info;
    char errbuf[128];

    if (apr_stat(&info, dir, APR_FINFO_TYPE, ptemp) == APR_SUCCESS) {
        return dir;
    }
    apr_status_t rv = apr_dir_make_recursive(dir, APR_FPROT_OS_DEFAULT, ptemp);
    if (rv == APR_SUCCESS && geteuid() == 0
        && chown(dir, ap_unixd_config.user_id, ap_unixd_config.group_id) != 0) {
        rv = APR_FROM_OS_ERROR(errno);
    }
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, rv, s, RALOGNO(00062)
                     "cannot prepare the key cache directory %s (%s): fetched keys will "
                     "not survive a restart", dir, apr_strerror(rv, errbuf, sizeof(errbuf)));
    }
    return dir;
}

static apr_status_t curl_cleanup(void *data)
{
    (void)data;
    curl_global_cleanup();
    return APR_SUCCESS;
}

/* The sources that sections serving requests use (ra_keys_check_source). */
static apr_array_header_t *sources_in_use(apr_pool_t *pconf)
{
    apr_array_header_t *all = sources_of(pconf);
    apr_array_header_t *used = apr_array_make(pconf, all->nelts, sizeof(ra_key_source_t *));
    for (int i = 0; i < all->nelts; i++) {
        ra_key_source_t *src = APR_ARRAY_IDX(all, i, ra_key_source_t *);
        if (src->configured_by) {
            APR_ARRAY_PUSH(used, ra_key_source_t *) = src;
        }
    }
    return used;
}

/* Shared memory, local keys, a cache file name and the first keys of each
 * source (from the cache, else fetched now): NULL, or why not. */
static const char *set_up_sources(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s,
                                  apr_array_header_t *sources)
{
    const char *dir = cache_directory(pconf, ptemp, s);
    apr_size_t block = ra_shared_keys_size();
    char errbuf[128];
    apr_shm_t *shm;

    /* anonymous: made before the children fork, so each one inherits it */
    apr_status_t rv = apr_shm_create(&shm, block * (apr_size_t)sources->nelts, NULL, pconf);
    if (rv != APR_SUCCESS) {
        return apr_psprintf(ptemp, "no shared memory: %s",
                            apr_strerror(rv, errbuf, sizeof(errbuf)));
    }
    char *base = apr_shm_baseaddr_get(shm);
    for (int i = 0; i < sources->nelts; i++) {
        ra_key_source_t *src = APR_ARRAY_IDX(sources, i, ra_key_source_t *);
        const char *error = NULL;
        src->shared = ra_shared_keys_init(base + (apr_size_t)i * block);
        src->local = ra_local_keys_create(pconf);
        src->cache_file = cache_file_name(pconf, dir, src);
        if (!src->local || !src->cache_file) {
            return apr_pstrcat(ptemp, src->name, ": no local keys", NULL);
        }
        /* a first start, or a cache that was lost: fetch before serving */
        if (!seed_from_cache(ptemp, s, src)
            && ra_shared_keys_begin(src->shared, apr_time_now())) {
            refresh(ptemp, s, src);
        }
        if (ra_local_keys_update(src->local, src->shared, src->url, 1, ptemp, &error) < 0) {
            return apr_pstrcat(ptemp, src->name, ": the keys just stored do not decode: ",
                               error, NULL);
        }
    }
    return NULL;
}

/* Everything but the optional functions' presence: NULL, or why not. */
static const char *set_up(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s,
                          apr_array_header_t *sources)
{
    APR_OPTIONAL_FN_TYPE(ap_watchdog_get_instance) *get_watchdog;
    APR_OPTIONAL_FN_TYPE(ap_watchdog_register_callback) *register_callback;
    ap_watchdog_t *watchdog;
    ra_keys_watch_t *watch;
    const char *error;

    get_watchdog = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_get_instance);
    register_callback = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_register_callback);
    if (!get_watchdog || !register_callback) {
        return "they need mod_watchdog (LoadModule watchdog_module, unless httpd has it "
               "built in)";
    }
    /* before any thread: curl_global_init is not thread-safe everywhere */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        return "libcurl cannot be initialised";
    }
    apr_pool_cleanup_register(pconf, NULL, curl_cleanup, apr_pool_cleanup_null);
    if ((error = set_up_sources(pconf, ptemp, s, sources)) != NULL) {
        return error;
    }
    watch = apr_palloc(pconf, sizeof(*watch));
    watch->s = s;
    watch->sources = sources;
    if (get_watchdog(&watchdog, WATCHDOG_NAME, 0, 1, pconf) != APR_SUCCESS
        || register_callback(watchdog, AP_WD_TM_SLICE, watch, keys_watchdog)
           != APR_SUCCESS) {
        return "mod_watchdog does not take the key fetcher";
    }
    return NULL;
}

int ra_keys_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                        server_rec *s)
{
    apr_array_header_t *sources = sources_in_use(pconf);
    const char *error;
    (void)plog;

    /* the first of httpd's two configuration passes only tests the config */
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG
        || sources->nelts == 0) {
        return OK;
    }
    if ((error = set_up(pconf, ptemp, s, sources)) != NULL) {
        /* never the end of the server: the sections answer 503 (RA00057) */
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, RALOGNO(00059)
                     "signing keys from a URL cannot be set up: %s; the sections that use "
                     "them answer 503 until it is corrected and httpd restarted", error);
    }
    return OK;
}

/* ------------------------------------------------------------ requests */

const char *ra_keys_missing(const server_rec *s)
{
    apr_array_header_t *all = NULL;
    /* only look: requests must not allocate from the configuration pool */
    apr_pool_userdata_get((void **)&all, SOURCES_KEY, s->process->pconf);
    for (int i = 0; all && i < all->nelts; i++) {
        const ra_key_source_t *src = APR_ARRAY_IDX(all, i, ra_key_source_t *);
        if (src->configured_by && (!src->shared || !ra_shared_keys_published(src->shared))) {
            return src->name;
        }
    }
    return NULL;
}

/* Takes newer shared keys into this child's local; wait: even when another
 * thread is taking them. */
static void take_shared(request_rec *r, const ra_key_source_t *src, int wait)
{
    const char *error;
    if (ra_local_keys_update(src->local, src->shared, src->url, wait, r->pool, &error) < 0) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, RALOGNO(00063)
                      "%s: this child cannot take the shared keys (%s); it keeps its own",
                      src->name, error);
    }
}

const ra_fetched_keys_t *ra_keys_current(request_rec *r, const ra_key_source_t *src)
{
    if (!src->shared) {
        return NULL; /* in no section that serves requests (see post_config) */
    }
    take_shared(r, src, 0);
    return ra_local_keys_hold(src->local, r->pool);
}

/* snap, unless it holds the same keys as held */
static const ra_fetched_keys_t *if_newer(const ra_fetched_keys_t *snap,
                                         const ra_fetched_keys_t *held)
{
    return snap && ra_keyset_generation(snap->keys) != ra_keyset_generation(held->keys)
           ? snap : NULL;
}

const ra_fetched_keys_t *ra_keys_after_unknown_kid(request_rec *r, const ra_key_source_t *src,
                                                   const ra_fetched_keys_t *held,
                                                   const char *request_id)
{
    const ra_fetched_keys_t *newer;
    apr_uint64_t ticket;

    /* another thread of this child may just have taken newer keys */
    take_shared(r, src, 1);
    if ((newer = if_newer(ra_local_keys_hold(src->local, r->pool), held)) != NULL) {
        return newer;
    }
    apr_time_t deadline = apr_time_now() + apr_time_from_sec(RA_KEYS_WAIT);
    ra_shared_keys_ask_e asked;
    int finished;
    do {
        asked = ra_shared_keys_ask(src->shared, apr_time_now(),
                                   apr_time_from_sec(src->fetch.min_interval), &ticket);
        finished = asked != RA_SHARED_KEYS_NO_FETCH
                   && ra_shared_keys_wait(src->shared, ticket, deadline - apr_time_now());
        /* a fetch may also have ended between the look above and the ask */
        take_shared(r, src, 1);
        newer = if_newer(ra_local_keys_hold(src->local, r->pool), held);
        /* a fetch that was under way may have begun before the key appeared:
         * then one early refresh of its own, within the same deadline */
    } while (!newer && finished && asked == RA_SHARED_KEYS_FETCH_IN_FLIGHT);
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, RALOGNO(00058)
                  "request-id=%s unknown kid: %s; %s", request_id,
                  asked == RA_SHARED_KEYS_NO_FETCH
                  ? apr_psprintf(r->pool, "%s was refreshed early less than %d s ago "
                                 "(RemoteAssistTokenKeysMinInterval), not again yet",
                                 src->name, src->fetch.min_interval)
                  : finished ? apr_psprintf(r->pool, "a refresh of %s finished", src->name)
                  : apr_psprintf(r->pool, "no refresh of %s finished within %d s", src->name,
                                 RA_KEYS_WAIT),
                  newer ? "its new keys are tried" : "no new keys");
    return newer;
}
