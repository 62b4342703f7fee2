/* OData/Graph protocol details around the entity: media types, content
 * negotiation, URLs, ids and the Graph error body. Pure logic over APR. */
#ifndef RA_ODATA_H
#define RA_ODATA_H

#include <apr_pools.h>
#include <apr_time.h>

#include "ra_entity.h"
#include "ra_json_writer.h"

#define RA_ODATA_CONTENT_TYPE "application/json;odata.metadata=minimal;" \
    "odata.streaming=true;IEEE754Compatible=false;charset=utf-8"

/* The Content-Type of a JSON answer at level, its parameters as
 * RA_ODATA_CONTENT_TYPE's (a constant string). */
const char *ra_odata_content_type(ra_jw_metadata_e level);

/* A $format value: json, xml, or application/json or application/xml with
 * parameters (odata.metadata=none|minimal|full for JSON; others ignored),
 * case-insensitive. Returns 1 with *json and *level (minimal unless named),
 * or 0 for anything else. */
int ra_odata_format(apr_pool_t *pool, const char *format, int *json,
                    ra_jw_metadata_e *level);

/* The metadata level the Accept header asks of JSON: the odata.metadata
 * parameter of its first application/json member that has one, else
 * minimal; -1 when that parameter names no level (406). */
int ra_odata_accept_metadata(apr_pool_t *pool, const char *accept);

/* Longest client-request-id echoed back. */
#define RA_ODATA_CLIENT_REQUEST_ID_MAX 128

/* The context URL: {root}/$metadata#deviceManagement/remoteAssistancePartners,
 * then (p1,p2) when select (an RA_PROP_BIT mask) names some properties of
 * the version but not all, then /$entity for a single entity. */
const char *ra_odata_context_url(apr_pool_t *pool, const char *service_root,
                                 ra_version_e version, unsigned select, int entity);

/* {root}/deviceManagement/remoteAssistancePartners */
const char *ra_odata_collection_url(apr_pool_t *pool, const char *service_root);

/* {root}/deviceManagement/remoteAssistancePartners('{id}'); id must be valid
 * (ra_entity_id_valid), so it needs no escaping. */
const char *ra_odata_entity_url(apr_pool_t *pool, const char *service_root,
                                const char *id);

/* Whether an Accept header value admits the media type type/subtype (NULL
 * or empty: anything goes). RFC 9110 12.5.1: the most specific matching
 * range decides, and q=0 excludes. */
int ra_odata_accepts(apr_pool_t *pool, const char *accept, const char *media_type);

/* Whether a Content-Type value is application/json (charset, if any, UTF-8). */
int ra_odata_is_json(apr_pool_t *pool, const char *content_type);

/* A random (version 4) GUID in lower case; never NULL. */
const char *ra_odata_new_guid(apr_pool_t *pool);

/* A time-ordered (version 7, RFC 9562) GUID in lower case: the Unix time in
 * milliseconds, then 74 random bits; never NULL. The ids the module makes
 * for rows: a new row's key then lands at the end of its tenant's part of
 * the primary-key index, beside the last one, instead of on a page of its
 * own, so a batch of creates changes a few index pages, not one per row
 * (bench/NOTES.md, "where a SQLite batch's time goes"). */
const char *ra_odata_new_time_guid(apr_pool_t *pool);

/* Whether s begins with a GUID: 8-4-4-4-12 hex digits of either case, the
 * 36 characters of OData's guidValue (what follows them is the caller's). */
int ra_odata_guid_at(const char *s);

/* A copy of s[0..len) in ASCII lower case: a GUID as Graph writes it. */
const char *ra_odata_lower(apr_pool_t *pool, const char *s, size_t len);

/* Whether a client-request-id may be echoed: 1..128 printable ASCII
 * characters without quotes or backslashes. */
int ra_odata_client_request_id_ok(const char *value);

/* The Graph error code for an HTTP error status, and a message for when
 * httpd itself refused the request (before the module could read it). */
const char *ra_odata_status_code(int status);
const char *ra_odata_status_message(int status);

/* The Graph error body:
 * {"error":{"code":..,"message":..,"innerError":{"date":..,"request-id":..,
 *  "client-request-id":..}}}, written by the streaming writer: a byte of the
 * message that is not UTF-8 comes out as U+FFFD. */
char *ra_odata_error_body(apr_pool_t *pool, const char *code, const char *message,
                          const char *request_id, const char *client_request_id,
                          apr_time_t now, apr_size_t *len);

#endif
