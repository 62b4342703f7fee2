/* httpd glue: List, Get and $count. */
#include "mod_ra_ops.h"

#include "http_protocol.h"

#include <apr_strings.h>

#include "mod_ra_hooks.h"
#include "ra_odata.h"

APLOG_USE_MODULE(remoteassist);

int ra_op_get(ra_request_t *rq)
{
    ra_partner_t partner;
    const char *error;
    int rc;

    if ((rc = ra_negotiate(rq, "application/json")) != OK
        || (rc = ra_request_connect(rq)) != OK) {
        return rc;
    }
    switch (ra_store_get(rq->r->pool, &rq->conn, rq->token.tenant, rq->route.id, &partner,
                         &error)) {
    case RA_STORE_DONE:
        return ra_respond_entity(rq, HTTP_OK, &partner);
    case RA_STORE_MISSING:
        return ra_not_found(rq);
    default:
        return ra_unavailable(rq, "read", error);
    }
}

int ra_op_count(ra_request_t *rq)
{
    apr_int64_t count;
    const char *error, *text;
    int rc;

    if ((rc = ra_negotiate(rq, "text/plain")) != OK
        || (rc = ra_request_connect(rq)) != OK) {
        return rc;
    }
    switch (ra_store_count(rq->r->pool, &rq->conn, rq->token.tenant, rq->query.filter,
                           &count, &error)) {
    case RA_STORE_DONE:
        break;
    case RA_STORE_TIMED_OUT:
        return ra_query_timed_out(rq, "count");
    default:
        return ra_unavailable(rq, "count", error);
    }
    text = apr_psprintf(rq->r->pool, "%" APR_INT64_T_FMT, count);
    return ra_respond(rq, HTTP_OK, "text/plain;charset=utf-8", text, strlen(text));
}

/* A $skiptoken whose sort keys were too long to keep holds the id of the
 * previous page's last row: its keys are read again from that row. */
static int reread_anchor(ra_request_t *rq)
{
    ra_query_t *query = &rq->query;
    ra_partner_t anchor;
    const char *error, *id = NULL;

    for (int i = 0; i < query->order_count; i++) {
        if (query->order[i].prop == RA_PROP_ID) {
            id = query->after[i].text;
        }
    }
    switch (ra_store_get(rq->r->pool, &rq->conn, rq->token.tenant, id, &anchor, &error)) {
    case RA_STORE_DONE:
        ra_sql_key_values(query, &anchor, query->after);
        return OK;
    case RA_STORE_MISSING:
        return ra_fail(rq, HTTP_BAD_REQUEST, "BadRequest",
                       "Invalid $skiptoken: the last partner of the previous page was deleted "
                       "since, and its sort keys were too long for the token to hold; list "
                       "again from the first page.");
    default:
        return ra_unavailable(rq, "read", error);
    }
}

/* Whether the request line that follows the next page's link, with the
 * longest $skiptoken, fits httpd's LimitRequestLine: a client could not
 * follow a longer one (414), so such a list is refused before it runs. Its
 * options are echoed as sent, so only a request within a token's length of
 * the limit is refused, and $filter is what makes a request that long. */
static int next_link_fits(ra_request_t *rq)
{
    static const char method[] = "GET ", protocol[] = " HTTP/1.1";
    apr_pool_t *pool = rq->r->pool;
    const char *url = ra_odata_collection_url(pool, rq->service_root);
    const char *path = strstr(url, "://");
    path = path ? strchr(path + 3, '/') : url;
    apr_size_t line = sizeof(method) - 1 + (path ? strlen(path) : 1) + 1
                      + strlen(ra_query_next_args(pool, &rq->query, "")) + RA_QUERY_TOKEN_MAX
                      + sizeof(protocol) - 1;
    return line <= (apr_size_t)rq->r->server->limit_req_line;
}

/* One page: at most RemoteAssistPageSize entities (fewer when $top asks for
 * fewer: Graph's $top is a page size), continued by an @odata.nextLink whose
 * $skiptoken holds the last row's sort keys, so the next page starts after
 * that row whatever was inserted or deleted meanwhile. */
int ra_op_list(ra_request_t *rq)
{
    request_rec *r = rq->r;
    const ra_query_t *query = &rq->query;
    apr_int64_t page = rq->cfg->page_size, count = 0;
    apr_array_header_t *rows;
    const char *error, *key = ra_startup_token_key(r);
    int rc;

    if (!key) { /* a database that is ready has its key: not reached */
        return ra_unavailable_known(rq, "no $skiptoken key for this database");
    }
    if (!ra_query_skiptoken_verify(query, key)) {
        return ra_fail(rq, HTTP_BAD_REQUEST, "BadRequest", RA_QUERY_INVALID_SKIPTOKEN);
    }
    if (!next_link_fits(rq)) {
        return ra_fail(rq, HTTP_BAD_REQUEST, "BadRequest",
                       apr_psprintf(r->pool, "The $filter is too long: the link to the next "
                                    "page would pass this server's request line limit (%d "
                                    "bytes); shorten the $filter.",
                                    r->server->limit_req_line));
    }
    if ((rc = ra_negotiate(rq, "application/json")) != OK
        || (rc = ra_request_connect(rq)) != OK) {
        return rc;
    }
    if (query->after_reread && (rc = reread_anchor(rq)) != OK) {
        return rc;
    }
    if (query->top >= 0 && query->top < page) {
        page = query->top;
    }
    /* one row more than the page tells whether another page follows */
    ra_store_result_e result = ra_store_list(r->pool, &rq->conn, rq->token.tenant, query,
                                             page + 1, query->skip > 0 ? query->skip : 0,
                                             &rows, &error);
    if (result == RA_STORE_DONE && query->count) {
        result = ra_store_count(r->pool, &rq->conn, rq->token.tenant, query->filter, &count,
                                &error);
    }
    if (result == RA_STORE_TIMED_OUT) {
        return ra_query_timed_out(rq, "list");
    }
    if (result != RA_STORE_DONE) {
        return ra_unavailable(rq, "list", error);
    }
    json_t *out = json_object(), *value = json_array();
    json_object_set_new(out, "@odata.context",
                        json_string(ra_odata_context_url(r->pool, rq->service_root,
                                                         rq->cfg->version, query->select, 0)));
    if (query->count) {
        json_object_set_new(out, "@odata.count", json_integer(count));
    }
    if (rows->nelts > page && (rows->nelts = (int)page) > 0) { /* $top=0: no next page */
        ra_key_value_t last[RA_PROP_COUNT];
        ra_sql_key_values(query, &APR_ARRAY_IDX(rows, rows->nelts - 1, ra_partner_t), last);
        const char *next = ra_query_next_args(r->pool, query,
                                              ra_query_skiptoken(r->pool, query, last,
                                                                 key));
        json_object_set_new(out, "@odata.nextLink",
                            json_string(apr_pstrcat(r->pool, ra_odata_collection_url(
                                                        r->pool, rq->service_root),
                                                    "?", next, NULL)));
    }
    for (int i = 0; i < rows->nelts; i++) {
        json_array_append_new(value, ra_entity_to_json(&APR_ARRAY_IDX(rows, i, ra_partner_t),
                                                       rq->cfg->version, query->select, NULL));
    }
    json_object_set_new(out, "value", value);
    return ra_respond_json(rq, HTTP_OK, out);
}
