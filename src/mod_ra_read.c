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
    case RA_STORE_DONE: /* If-None-Match: 304 for the version the client has */
        rc = ra_check_preconditions(rq, partner.etag, 1);
        return rc != OK ? rc : ra_respond_entity(rq, HTTP_OK, &partner);
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
    const char *error;

    switch (ra_store_get(rq->r->pool, &rq->conn, rq->token.tenant, ra_query_after_id(query),
                         &anchor, &error)) {
    case RA_STORE_DONE:
        ra_sql_key_values(query, anchor.values, query->after);
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

/* A page as the store reads it: each row is written at once, the row past
 * the page only tells that another page follows, and the page's last row
 * keeps its sort keys for the nextLink (copied once, the one allocation). */
typedef struct {
    ra_request_t *rq;
    ra_jw_t *jw;
    const char *collection_url; /* for full metadata's links */
    apr_int64_t page, rows;
    ra_key_value_t last[RA_PROP_COUNT];
} page_t;

static void page_row(const ra_partner_t *partner, void *baton)
{
    page_t *p = baton;
    const ra_query_t *query = &p->rq->query;

    if (p->rows++ >= p->page) {
        return;
    }
    ra_entity_write(p->jw, partner, p->rq->cfg->version, query->select, NULL,
                    p->collection_url);
    if (p->rows == p->page) {
        ra_sql_key_values(query, partner->values, p->last);
        for (int i = 0; i < query->order_count; i++) {
            p->last[i].text = p->last[i].text ? apr_pstrdup(p->rq->r->pool, p->last[i].text)
                                              : NULL;
        }
    }
}

/* One page: at most RemoteAssistPageSize entities (fewer when $top asks for
 * fewer: Graph's $top is a page size), continued by an @odata.nextLink whose
 * $skiptoken holds the last row's sort keys, so the next page starts after
 * that row whatever was inserted or deleted meanwhile. The page is written
 * as the rows are read, so the nextLink follows the value (as
 * odata.streaming=true allows); the count, asked first, precedes it. */
int ra_op_list(ra_request_t *rq)
{
    request_rec *r = rq->r;
    const ra_query_t *query = &rq->query;
    page_t page = { .rq = rq, .page = rq->cfg->page_size,
                    .collection_url = ra_odata_collection_url(r->pool, rq->service_root) };
    apr_int64_t count = 0;
    ra_store_result_e result = RA_STORE_DONE;
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
    if (query->top >= 0 && query->top < page.page) {
        page.page = query->top;
    }
    if (query->count) {
        result = ra_store_count(r->pool, &rq->conn, rq->token.tenant, query->filter, &count,
                                &error);
    }
    page.jw = ra_body(rq);
    ra_jw_object_open(page.jw);
    ra_jw_annotation(page.jw, RA_JW_METADATA_MINIMAL, "@odata.context",
                     ra_odata_context_url(r->pool, rq->service_root, rq->cfg->version,
                                          query->select, 0));
    if (query->count) {
        ra_jw_member_integer(page.jw, "@odata.count", count);
    }
    ra_jw_name(page.jw, "value");
    ra_jw_array_open(page.jw);
    /* one row more than the page tells whether another page follows */
    if (result == RA_STORE_DONE) {
        result = ra_store_list(r->pool, &rq->conn, rq->token.tenant, query, page.page + 1,
                               query->skip > 0 ? query->skip : 0, page_row, &page, &error);
    }
    if (result != RA_STORE_DONE) {
        ra_body_discard(rq);
        return result == RA_STORE_TIMED_OUT ? ra_query_timed_out(rq, "list")
                                            : ra_unavailable(rq, "list", error);
    }
    ra_jw_array_close(page.jw);
    if (page.rows > page.page && page.page > 0) { /* $top=0: no next page */
        const char *next = ra_query_next_args(r->pool, query,
                                              ra_query_skiptoken(r->pool, query, page.last,
                                                                 key));
        ra_jw_member_string(page.jw, "@odata.nextLink",
                            apr_pstrcat(r->pool, page.collection_url, "?", next, NULL));
    }
    ra_jw_object_close(page.jw);
    return ra_respond_written(rq, HTTP_OK);
}
