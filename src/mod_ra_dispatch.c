/* httpd glue: which requests are the module's, and what each one runs.
 *
 * One table, operations[], decides everything about a route and method:
 * the access the token needs, the query options it takes and the operation;
 * Allow headers, 405s and CORS preflights are derived from it. */
#include "mod_ra_hooks.h"

#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_filter.h"

#include <apr_network_io.h>
#include <apr_strings.h>

#include "mod_ra_ops.h"
#include "mod_ra_throttle.h"
#include "ra_odata.h"

APLOG_USE_MODULE(remoteassist);

typedef struct {
    ra_route_kind_e route;
    int method;                 /* M_GET, ...; HEAD is M_GET */
    const char *method_name;    /* for Allow: httpd's registry maps HEAD to M_GET too */
    ra_access_e access;
    ra_query_target_e query;    /* which query options it takes */
    int (*run)(ra_request_t *rq);
    ra_metric_op_e metric;      /* what the metrics call it */
} ra_operation_t;

static const ra_operation_t operations[] = {
    { RA_ROUTE_COLLECTION, M_GET, "GET", RA_ACCESS_READ, RA_QUERY_LIST, ra_op_list,
      RA_METRIC_OP_LIST },
    { RA_ROUTE_COLLECTION, M_POST, "POST", RA_ACCESS_WRITE, RA_QUERY_NONE, ra_op_create,
      RA_METRIC_OP_CREATE },
    { RA_ROUTE_COUNT, M_GET, "GET", RA_ACCESS_READ, RA_QUERY_COUNT, ra_op_count,
      RA_METRIC_OP_COUNT },
    { RA_ROUTE_ENTITY, M_GET, "GET", RA_ACCESS_READ, RA_QUERY_ENTITY, ra_op_get,
      RA_METRIC_OP_GET },
    { RA_ROUTE_ENTITY, M_PATCH, "PATCH", RA_ACCESS_WRITE, RA_QUERY_NONE, ra_op_update,
      RA_METRIC_OP_UPDATE },
    { RA_ROUTE_ENTITY, M_DELETE, "DELETE", RA_ACCESS_WRITE, RA_QUERY_NONE, ra_op_delete,
      RA_METRIC_OP_DELETE },
    { RA_ROUTE_BEGIN_ONBOARDING, M_POST, "POST", RA_ACCESS_WRITE, RA_QUERY_NONE,
      ra_op_begin_onboarding, RA_METRIC_OP_BEGIN_ONBOARDING },
    { RA_ROUTE_DISCONNECT, M_POST, "POST", RA_ACCESS_WRITE, RA_QUERY_NONE, ra_op_disconnect,
      RA_METRIC_OP_DISCONNECT },
    /* the service root's own resources (ra_route_service), behind the same
     * token as the entity set: a section's Require and tenants guard them */
    { RA_ROUTE_SERVICE_DOCUMENT, M_GET, "GET", RA_ACCESS_READ, RA_QUERY_SERVICE,
      ra_op_service_document, RA_METRIC_OP_OTHER },
    { RA_ROUTE_METADATA, M_GET, "GET", RA_ACCESS_READ, RA_QUERY_SERVICE, ra_op_metadata,
      RA_METRIC_OP_OTHER },
    { RA_ROUTE_DEVICE_MANAGEMENT, M_GET, "GET", RA_ACCESS_READ, RA_QUERY_SERVICE,
      ra_op_device_management, RA_METRIC_OP_OTHER },
    /* read-only: an audit log its subjects could edit would not be one, so
     * POST, PATCH and DELETE answer 405 from this table like any other */
    { RA_ROUTE_AUDIT_COLLECTION, M_GET, "GET", RA_ACCESS_AUDIT, RA_QUERY_LIST,
      ra_op_audit_list, RA_METRIC_OP_LIST },
    { RA_ROUTE_AUDIT_ENTITY, M_GET, "GET", RA_ACCESS_AUDIT, RA_QUERY_NONE, ra_op_audit_get,
      RA_METRIC_OP_GET },
    { RA_ROUTE_AUDIT_CATEGORIES, M_GET, "GET", RA_ACCESS_AUDIT, RA_QUERY_NONE,
      ra_op_audit_function, RA_METRIC_OP_GET },
    { RA_ROUTE_AUDIT_ACTIVITY_TYPES, M_GET, "GET", RA_ACCESS_AUDIT, RA_QUERY_NONE,
      ra_op_audit_function, RA_METRIC_OP_GET },
    /* a valid token opens a batch; each inner request needs its own access */
    { RA_ROUTE_BATCH, M_POST, "POST", RA_ACCESS_READ, RA_QUERY_NONE, ra_op_batch,
      RA_METRIC_OP_OTHER },
};
#define OPERATIONS (sizeof(operations) / sizeof(operations[0]))

static const ra_operation_t *find_operation(ra_route_kind_e route, int method)
{
    for (size_t i = 0; i < OPERATIONS; i++) {
        if (operations[i].route == route && operations[i].method == method) {
            return &operations[i];
        }
    }
    return NULL;
}

/* "GET, POST, OPTIONS": what the route's operations take, and OPTIONS. */
static const char *allowed_methods(apr_pool_t *pool, ra_route_kind_e route)
{
    const char *allow = "";
    for (size_t i = 0; i < OPERATIONS; i++) {
        if (operations[i].route == route) {
            allow = apr_pstrcat(pool, allow, operations[i].method_name, ", ", NULL);
        }
    }
    return apr_pstrcat(pool, allow, "OPTIONS", NULL);
}

/* ------------------------------------------------------ the URL space */

/* What translate_name learnt of a request: the path to route (as the
 * client wrote it), and the service root's path when the URI had to be
 * rewritten for httpd's location walk (else NULL); and the operation the
 * handler chose, for the metrics. */
typedef struct {
    const char *path;
    const char *root_path;
    ra_metric_op_e operation;
    int service;            /* a resource of the service root: route holds it */
    ra_route_t route;
} ra_claim_t;

/* The plain <Location> serving the entity set that path falls under,
 * whatever its case and whether a key in parentheses follows, or NULL.
 * The audit events beside it, {root}/deviceManagement/auditEvents, fall
 * under it too: the partners' section serves them (as the key form), and
 * *prefix gets the length of path's part the section's path stands for. */
static const char *collection_of(const server_rec *s, const char *path, size_t *prefix)
{
    static const size_t tail = sizeof(RA_ROUTE_COLLECTION_PATH) - 1;
    const apr_array_header_t *list = ra_server_config(s)->collections;
    for (int i = 0; path && list && i < list->nelts; i++) {
        const char *collection = APR_ARRAY_IDX(list, i, const char *);
        size_t root = strlen(collection) - tail;
        if ((*prefix = ra_route_under(path, collection)) != 0) {
            return collection;
        }
        if (!strncasecmp(path, collection, root)
            && (*prefix = ra_route_under(path + root, RA_ROUTE_AUDIT_PATH)) != 0) {
            *prefix += root;
            return collection;
        }
    }
    return NULL;
}

/* The service root's own resources ($metadata, the service document, the
 * singleton: ra_route_service's list) under the version root of a plain
 * <Location> serving the entity set: that collection, with route filled;
 * else NULL. A collection at the site's root claims no service document:
 * "/" stays the site's. */
static const char *service_collection_of(const server_rec *s, const char *path,
                                         ra_route_t *route)
{
    const apr_array_header_t *list = ra_server_config(s)->collections;
    for (int i = 0; list && i < list->nelts; i++) {
        const char *collection = APR_ARRAY_IDX(list, i, const char *);
        size_t root_len = strlen(collection) - (sizeof(RA_ROUTE_COLLECTION_PATH) - 1);
        if (!strncasecmp(path, collection, root_len)
            && ra_route_service(path + root_len, route)
            && (root_len > 0 || route->kind != RA_ROUTE_SERVICE_DOCUMENT)) {
            return collection;
        }
    }
    return NULL;
}

/* httpd matches <Location> paths by whole segments and case-sensitively, so
 * the entity URL a 201 puts in Location, .../remoteAssistancePartners('id'),
 * and Graph's case-insensitive spellings would miss the section. The module
 * claims them here, after the first location walk: the URI is rewritten to
 * the section's own spelling (with a '/' before a key in parentheses) for
 * the walk httpd repeats after map_to_storage, and the claim keeps the path
 * to route. A request the first walk already matched is claimed as is.
 * The service root's own resources are claimed the same way, their URI
 * rewritten to the entity set's: the partners' <Location> (its Require,
 * authentication and the module's settings) applies to them exactly as to
 * the entity set, with no <Location> of their own.
 * A claimed URL maps to no file (as mod_proxy's "proxy:" ones): core's
 * translation, which fails on a path longer than a file name may be, never
 * runs for it. */
int ra_dispatch_translate_name(request_rec *r)
{
    const ra_dir_config_t *cfg = ra_dir_config(r);
    const char *collection;
    ra_claim_t *claim;
    ra_route_t route;
    size_t len;

    if (cfg && cfg->serves) {
        claim = apr_pcalloc(r->pool, sizeof(*claim));
        claim->path = r->uri;
    }
    else if ((collection = collection_of(r->server, r->uri, &len)) != NULL) {
        size_t root = strlen(collection) - (sizeof(RA_ROUTE_COLLECTION_PATH) - 1);
        claim = apr_pcalloc(r->pool, sizeof(*claim));
        claim->path = r->uri;
        claim->root_path = apr_pstrmemdup(r->pool, collection, root);
        /* an audit events URL walks as the collection itself: the section's
         * configuration applies, and the claim keeps the path to route */
        r->uri = ra_route_under(r->uri + root, RA_ROUTE_AUDIT_PATH)
                 ? apr_pstrdup(r->pool, collection)
                 : apr_pstrcat(r->pool, collection, r->uri[len] == '(' ? "/" : "",
                               r->uri + len, NULL);
    }
    else if ((collection = service_collection_of(r->server, r->uri, &route)) != NULL) {
        size_t root_len = strlen(collection) - (sizeof(RA_ROUTE_COLLECTION_PATH) - 1);
        claim = apr_pcalloc(r->pool, sizeof(*claim));
        claim->path = r->uri;
        claim->root_path = apr_pstrmemdup(r->pool, collection, root_len);
        claim->service = 1;
        claim->route = route;
        claim->route.root_path = apr_pstrmemdup(r->pool, r->uri, root_len);
        r->uri = apr_pstrdup(r->pool, collection);
    }
    else {
        return DECLINED;
    }
    ap_set_module_config(r->request_config, &remoteassist_module, claim);
    r->filename = apr_pstrcat(r->pool, RA_HANDLER ":", r->uri, NULL);
    return OK;
}

/* The entity set is not a file: skip the directory and file walk, as
 * mod_proxy does, so no stat() per request and no 403 from a DocumentRoot
 * the location happens to overlay. <Location> sections still apply.
 * httpd resets per_dir_config to the server's defaults just before
 * map_to_storage, so the decision was taken at translate_name. */
int ra_dispatch_map_to_storage(request_rec *r)
{
    return ap_get_module_config(r->request_config, &remoteassist_module) ? OK : DECLINED;
}

/* ------------------------------------------------------------ the handler */

/* The last member of a comma-separated header, trimmed: what the proxy
 * next to httpd wrote, whether it replaced the header or appended to what
 * the client sent; NULL when the header is absent or its last member empty. */
static const char *last_member(apr_pool_t *pool, const char *value)
{
    const char *start, *end;
    if (!value) {
        return NULL;
    }
    start = strrchr(value, ',');
    start = start ? start + 1 : value;
    start += strspn(start, " \t");
    for (end = start + strlen(start); end > start && (end[-1] == ' ' || end[-1] == '\t');) {
        end--;
    }
    return end > start ? apr_pstrmemdup(pool, start, (apr_size_t)(end - start)) : NULL;
}

/* host[:port] as a URL's authority may take it: a DNS name or IPv4 address,
 * or an IPv6 literal in brackets, and a port of digits. Nothing that could
 * end the authority ('/', '?', '#', '@') or need escaping. */
static int valid_authority(const char *authority)
{
    static const char name_chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                     "0123456789-._~";
    size_t host_len, port_len;
    if (*authority == '[') {
        host_len = 1 + strspn(authority + 1, "0123456789abcdefABCDEF:.");
        if (host_len < 3 || authority[host_len] != ']') {
            return 0;
        }
        host_len++;
    }
    else {
        host_len = strspn(authority, name_chars);
    }
    if (host_len == 0 || host_len > 255) {
        return 0;
    }
    if (authority[host_len] == '\0') {
        return 1;
    }
    port_len = strspn(authority + host_len + 1, "0123456789");
    return authority[host_len] == ':' && port_len >= 1 && port_len <= 5
           && authority[host_len + 1 + port_len] == '\0';
}

static int trusted_proxy(const ra_dir_config_t *cfg, const conn_rec *c)
{
    for (int i = 0; cfg->trusted_proxies && i < cfg->trusted_proxies->nelts; i++) {
        if (apr_ipsubnet_test(APR_ARRAY_IDX(cfg->trusted_proxies, i, apr_ipsubnet_t *),
                              c->client_addr)) {
            return 1;
        }
    }
    return 0;
}

/* The scheme and authority a trusted proxy says the client used, from
 * X-Forwarded-Proto and X-Forwarded-Host; each one absent or invalid is
 * left as the request's own. Returns 0 when neither applies. The peer is
 * the connection's (c->client_addr): mod_remoteip rewrites the request's
 * useragent address from headers the client may have written itself. */
static int forwarded_origin(request_rec *r, const ra_dir_config_t *cfg, const char **scheme,
                            const char **authority)
{
    const char *proto, *host;
    if (!trusted_proxy(cfg, r->connection)) {
        return 0;
    }
    proto = last_member(r->pool, apr_table_get(r->headers_in, "X-Forwarded-Proto"));
    host = last_member(r->pool, apr_table_get(r->headers_in, "X-Forwarded-Host"));
    if (proto && (!strcasecmp(proto, "https") || !strcasecmp(proto, "http"))) {
        *scheme = apr_pstrdup(r->pool, proto);
        ap_str_tolower((char *)*scheme);
    }
    else {
        proto = NULL;
        *scheme = ap_http_scheme(r);
    }
    if (host && valid_authority(host)) {
        *authority = host;
    }
    else {
        /* the Host header as httpd parsed it: its port only if it had one */
        host = NULL;
        *authority = r->parsed_uri.port_str
                     ? apr_pstrcat(r->pool, ap_get_server_name_for_url(r), ":",
                                   r->parsed_uri.port_str, NULL)
                     : ap_get_server_name_for_url(r);
    }
    return proto || host;
}

/* The public service root: RemoteAssistBaseURL and the section's version;
 * else the scheme and host a trusted proxy forwarded, or the request's own,
 * and the path before the entity set. */
static const char *service_root(ra_request_t *rq, const ra_claim_t *claim)
{
    request_rec *r = rq->r;
    const char *root_path = claim && claim->root_path ? claim->root_path
                                                      : rq->route.root_path;
    const char *scheme, *authority;

    if (rq->cfg->base_url) {
        return apr_pstrcat(r->pool, rq->cfg->base_url, "/", ra_version_name(rq->cfg->version),
                           NULL);
    }
    root_path = ap_escape_uri(r->pool, root_path);
    if (forwarded_origin(r, rq->cfg, &scheme, &authority)) {
        return apr_pstrcat(r->pool, scheme, "://", authority, root_path, NULL);
    }
    return ap_construct_url(r->pool, root_path, r);
}

static int answer_options(ra_request_t *rq)
{
    request_rec *r = rq->r;
    const char *allow = allowed_methods(r->pool, rq->route.kind);
    const char *wanted = apr_table_get(r->headers_in, "Access-Control-Request-Headers");

    apr_table_setn(r->headers_out, "Allow", allow);
    if (apr_table_get(r->headers_in, "Access-Control-Request-Method")) {
        apr_table_setn(r->headers_out, "Access-Control-Allow-Methods", allow);
        apr_table_setn(r->headers_out, "Access-Control-Allow-Headers",
                       wanted ? wanted : "Authorization, Content-Type, Accept, "
                                         "client-request-id, If-Match, If-None-Match, Prefer");
        apr_table_setn(r->headers_out, "Access-Control-Max-Age", "600");
    }
    return ra_respond(rq, HTTP_NO_CONTENT, NULL, NULL, 0);
}

/* The odata.metadata level of the JSON answer: $format's, else Accept's;
 * 406 for a level OData does not define. */
static int metadata_level(ra_request_t *rq)
{
    int level = rq->query.format ? rq->query.metadata
                : ra_odata_accept_metadata(rq->r->pool,
                                           apr_table_get(rq->r->headers_in, "Accept"));
    if (level < 0) {
        return ra_fail(rq, HTTP_NOT_ACCEPTABLE, "NotAcceptable",
                       "The Accept header asks for an odata.metadata level other than "
                       "none, minimal or full.");
    }
    rq->metadata = (ra_jw_metadata_e)level;
    return OK;
}

/* Routes, authorizes and runs one request of the module's, outside or
 * inside a $batch (batch: NULL, or the batch, whose version root is the
 * only one an inner request may name, and whose service root it shares:
 * a subrequest's own URL has no Host to build one from). */
static int dispatch(ra_request_t *rq, ra_claim_t *claim, const ra_request_t *batch)
{
    request_rec *r = rq->r;
    const ra_operation_t *op;
    const char *message;
    int rc;

    if (rq->cfg->unusable) {
        return ra_unavailable_known(rq, apr_pstrcat(r->pool, "this section's configuration "
                                                    "was refused at start-up: ",
                                                    rq->cfg->unusable, NULL));
    }
    switch (claim && claim->service ? (rq->route = claim->route, RA_ROUTE_OK)
            : ra_route_parse(r->pool, claim ? claim->path : r->uri, &rq->route, &message)) {
    case RA_ROUTE_OK:
        break;
    case RA_ROUTE_BAD_KEY:
    case RA_ROUTE_BAD_SEGMENT:
        return ra_fail(rq, HTTP_BAD_REQUEST, "BadRequest", message);
    default:
        return ra_fail(rq, HTTP_NOT_FOUND, "ResourceNotFound", message);
    }
    if (batch && (strcmp(rq->route.root_path, batch->route.root_path)
                  || rq->route.kind == RA_ROUTE_BATCH)) {
        return ra_fail(rq, HTTP_BAD_REQUEST, "BadRequest",
                       rq->route.kind == RA_ROUTE_BATCH
                       ? "A batch request may not be a $batch itself."
                       : "A batch request must name a resource of the batch's own service "
                         "root.");
    }
    rq->service_root = batch ? batch->service_root : service_root(rq, claim);
    if (!claim) { /* SetHandler remoteassist outside a <Location>: counted all the same */
        claim = apr_pcalloc(r->pool, sizeof(*claim));
        ap_set_module_config(r->request_config, &remoteassist_module, claim);
    }
    if (r->method_number == M_OPTIONS) {
        return answer_options(rq);
    }
    if (!(op = find_operation(rq->route.kind, r->method_number))) {
        const char *allow = allowed_methods(r->pool, rq->route.kind);
        apr_table_setn(r->headers_out, "Allow", allow);
        return ra_fail(rq, HTTP_METHOD_NOT_ALLOWED, "MethodNotAllowed",
                       apr_psprintf(r->pool, "The HTTP method '%s' is not allowed on this "
                                    "resource; it allows %s.", r->method, allow));
    }
    if (op->access == RA_ACCESS_AUDIT && rq->cfg->audit_off) { /* RemoteAssistAuditEvents Off */
        return ra_fail(rq, HTTP_NOT_FOUND, "ResourceNotFound",
                       "Audit events are not served here.");
    }
    claim->operation = rq->operation = op->metric;
    /* the address's failed authentications, the token, the tenant's budget:
     * each inner $batch request is charged on its own, as Graph does */
    if ((rc = ra_throttle_authorize(rq, op->access)) != OK) {
        return rc;
    }
    if (!ra_query_parse_set(r->pool, op->access == RA_ACCESS_AUDIT ? RA_ENTITY_SET_AUDIT
                                                                   : RA_ENTITY_SET_PARTNERS,
                            rq->cfg->version, op->query, r->args, &rq->query, &message)) {
        return ra_fail(rq, HTTP_BAD_REQUEST, "BadRequest", message);
    }
    if ((rc = metadata_level(rq)) != OK) {
        return rc;
    }
    /* the service root's own resources come from memory: a database that is
     * not ready yet keeps only what needs it from answering */
    if (op->query != RA_QUERY_SERVICE && !ra_startup_database_ready(r, &message)) {
        return ra_unavailable_known(rq, message);
    }
    return op->run(rq);
}

int ra_dispatch_handler(request_rec *r)
{
    ra_request_t rq;

    if (!r->handler || strcmp(r->handler, RA_HANDLER)) {
        return DECLINED;
    }
    ra_request_init(&rq, r);
    return dispatch(&rq, ap_get_module_config(r->request_config, &remoteassist_module), NULL);
}

int ra_dispatch_inner(ra_request_t *rq, const ra_request_t *batch)
{
    request_rec *r = rq->r;
    if (!r->handler || strcmp(r->handler, RA_HANDLER)) {
        return ra_fail(rq, HTTP_NOT_FOUND, "ResourceNotFound",
                       "Resource not found: a batch request may name this service's "
                       "resources only.");
    }
    return dispatch(rq, ap_get_module_config(r->request_config, &remoteassist_module), batch);
}

/* ---------------------------------------- httpd's own refusals, as Graph's */

#define RA_ERROR_FILTER "RA_GRAPH_ERROR"

/* The path a request asked for, even when httpd refused it before parsing
 * its URI (a request line over LimitRequestLine leaves only the line). */
static const char *requested_path(request_rec *r)
{
    const char *line = r->the_request, *start;
    if (r->uri) {
        return r->uri;
    }
    if (!line || !(start = strchr(line, ' '))) {
        return NULL;
    }
    start++;
    return apr_pstrmemdup(r->pool, start, strcspn(start, " ?"));
}

int ra_dispatch_metric_operation(request_rec *r)
{
    size_t len;
    const ra_claim_t *claim = ap_get_module_config(r->request_config, &remoteassist_module);
    if (claim) {
        return claim->operation;
    }
    /* an error httpd answered before the module saw the request (the
     * error filter below gave it a Graph body) */
    if (r->status >= 400 && ((r->handler && !strcmp(r->handler, RA_HANDLER))
                             || collection_of(r->server, requested_path(r), &len))) {
        return RA_METRIC_OP_OTHER;
    }
    return -1;
}

/* Runs when httpd answers an error itself (ap_send_error_response): inside
 * the module's URL space the answer becomes a Graph error body. */
void ra_dispatch_insert_error_filter(request_rec *r)
{
    size_t len;
    if (ap_get_module_config(r->request_config, &remoteassist_module)
        || (r->handler && !strcmp(r->handler, RA_HANDLER))
        || collection_of(r->server, requested_path(r), &len)) {
        ap_add_output_filter(RA_ERROR_FILTER, NULL, r, r->connection);
    }
}

/* Drops httpd's HTML error page and sends the Graph error of the same
 * status once the page ends. */
static apr_status_t graph_error_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    request_rec *r = f->r;
    apr_bucket *b;
    ra_request_t rq;
    apr_size_t len;

    for (b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb); b = APR_BUCKET_NEXT(b)) {
        if (APR_BUCKET_IS_EOS(b)) {
            break;
        }
    }
    int eos = b != APR_BRIGADE_SENTINEL(bb);
    apr_brigade_cleanup(bb);
    if (!eos) {
        return APR_SUCCESS; /* nothing passes until the page is complete */
    }
    ra_request_init(&rq, r);
    char *body = ra_odata_error_body(r->pool, ra_odata_status_code(r->status),
                                     ra_odata_status_message(r->status), rq.request_id,
                                     rq.client_request_id, apr_time_now(), &len);
    ap_set_content_type(r, RA_ODATA_CONTENT_TYPE);
    r->content_languages = NULL;
    apr_table_setn(r->err_headers_out, "request-id", rq.request_id);
    apr_table_setn(r->err_headers_out, "client-request-id", rq.client_request_id);
    apr_table_setn(r->err_headers_out, "OData-Version", "4.0");
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, RALOGNO(00035)
                  "request-id=%s status=%d answered by httpd, with a Graph error body",
                  rq.request_id, r->status);
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_pool_create(body, len, r->pool,
                                                       f->c->bucket_alloc));
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(f->c->bucket_alloc));
    ap_remove_output_filter(f);
    return ap_pass_brigade(f->next, bb);
}

void ra_dispatch_register_filters(void)
{
    ap_register_output_filter(RA_ERROR_FILTER, graph_error_filter, NULL, AP_FTYPE_CONTENT_SET);
}
