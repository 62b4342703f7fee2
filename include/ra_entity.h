/* The remoteAssistancePartner entity: one property table for validation,
 * defaults, nullability (from Graph's CSDL), output order and the names the
 * query options may use. Pure logic over APR and jansson. */
#ifndef RA_ENTITY_H
#define RA_ENTITY_H

#include <apr_pools.h>
#include <jansson.h>

#include "ra_json_writer.h"

#define RA_ENTITY_TYPE "microsoft.graph.remoteAssistancePartner"
#define RA_ENTITY_ODATA_TYPE "#" RA_ENTITY_TYPE
#define RA_ENTITY_STATUS_TYPE "microsoft.graph.remoteAssistanceOnboardingStatus"

typedef enum {
    RA_VERSION_V1 = 0,
    RA_VERSION_BETA
} ra_version_e;

/* "v1.0" or "beta" */
const char *ra_version_name(ra_version_e version);

/* Parses a RemoteAssistApiVersion word; returns 0 when it is neither. */
int ra_version_parse(const char *word, ra_version_e *version);

/* The properties, in the order responses list them (the resource page's). */
typedef enum {
    RA_PROP_ID = 0,
    RA_PROP_DISPLAY_NAME,
    RA_PROP_ONBOARDING_URL,
    RA_PROP_ONBOARDING_STATUS,
    RA_PROP_LAST_CONNECTION,
    RA_PROP_EXPIRY,          /* onboardingRequestExpiryDateTime, beta only */
    RA_PROP_COUNT
} ra_prop_e;

#define RA_PROP_BIT(prop) (1u << (prop))

typedef enum {
    RA_KIND_ID,       /* Edm.String key, URL-unreserved characters */
    RA_KIND_STRING,   /* Edm.String */
    RA_KIND_STATUS,   /* remoteAssistanceOnboardingStatus */
    RA_KIND_DATETIME, /* Edm.DateTimeOffset */
    RA_KIND_GUID      /* Edm.Guid, lower case (the audit events' correlationId) */
} ra_prop_kind_e;

/* The JSON name of a property, and its kind. */
const char *ra_prop_name(ra_prop_e prop);
ra_prop_kind_e ra_prop_kind(ra_prop_e prop);

/* Whether the CSDL lets the property be null. */
int ra_prop_nullable(ra_prop_e prop);

/* The property called name[0..len) in version, or -1. */
int ra_prop_find(ra_version_e version, const char *name, size_t len);

/* Whether version defines prop. */
int ra_prop_in_version(ra_prop_e prop, ra_version_e version);

/* The value Intune answers for a DateTimeOffset that was never set. */
#define RA_ENTITY_DATETIME_UNSET "0001-01-01T00:00:00Z"
#define RA_ENTITY_STATUS_DEFAULT "notOnboarded"

/* One partner. values[prop] is NULL for JSON null. present marks the
 * members a request body carried (RA_PROP_BIT), so an update can tell an
 * absent property from one set to null. */
typedef struct {
    const char *values[RA_PROP_COUNT];
    const char *etag;     /* opaque; NULL before it is stored */
    unsigned present;
} ra_partner_t;

typedef enum {
    RA_DECODE_CREATE,  /* absent properties take their defaults */
    RA_DECODE_UPDATE   /* only the present ones change */
} ra_decode_e;

/* Validates a request body (a JSON object) against the version's properties
 * and fills partner with pool copies. Non-nullable properties may not be
 * null. For RA_DECODE_CREATE the absent ones get their defaults (the id
 * stays NULL when absent: the caller generates one). Returns 1 when valid;
 * else 0 with *message a Graph error message that names the property. */
int ra_entity_decode(apr_pool_t *pool, ra_version_e version, ra_decode_e mode,
                     json_t *body, ra_partner_t *partner, const char **message);

/* Copies the properties patch carries (but the id) into target. */
void ra_entity_apply(ra_partner_t *target, const ra_partner_t *patch);

/* Writes the entity as a JSON object: @odata.context (when context_url is
 * not NULL), @odata.type, @odata.etag (when the partner has one), each at
 * metadata level minimal; at level full also @odata.id and @odata.editLink
 * ({collection_url}('{id}')), the two actions' targets and the type of each
 * property JSON cannot tell (DateTimeOffsets, the enum); then the version's
 * properties in order; select (RA_PROP_BIT mask) limits them, 0 means all. */
void ra_entity_write(ra_jw_t *jw, const ra_partner_t *partner, ra_version_e version,
                     unsigned select, const char *context_url, const char *collection_url);

/* Parses an Edm.DateTimeOffset literal as Graph accepts it:
 * YYYY-MM-DDThh:mm[:ss[.f{1,7}]](Z|+hh:mm|-hh:mm), a real calendar date.
 * When valid and ticks is not NULL, *ticks gets the instant in 100 ns ticks
 * since 0001-01-01T00:00:00Z (as .NET counts), which orders instants whatever
 * offset they were written with. Returns 0 when not valid. */
int ra_entity_datetime_parse(const char *s, apr_int64_t *ticks);

/* The OData string literal starting at the quote p (a $filter value, a key
 * in parentheses), unescaped: two quotes inside stand for one, as OData's
 * ABNF says. *end gets the character after its closing quote. NULL when
 * the literal is not closed. */
char *ra_entity_string_literal(apr_pool_t *pool, const char *p, const char **end);

/* Whether s may be a partner id: 1 to RA_ENTITY_ID_MAX characters from the
 * URL-unreserved set, so it needs no escaping in a key literal or URL. */
#define RA_ENTITY_ID_MAX 128
int ra_entity_id_valid(const char *s);

/* Whether s is a member of remoteAssistanceOnboardingStatus (case-sensitive). */
int ra_entity_status_valid(const char *s);

/* The members of remoteAssistanceOnboardingStatus have the values 0..2 in
 * Graph's CSDL (notOnboarded, onboarding, onboarded); OData orders and
 * compares an enum by them. The value of member s, or -1; the member of
 * value, or NULL. */
#define RA_ENTITY_STATUS_MEMBERS 3
int ra_entity_status_value(const char *s);
const char *ra_entity_status_member(int value);

/* A fresh opaque ETag value (without quotes or W/). */
const char *ra_entity_new_etag(apr_pool_t *pool);

/* The ETag header value of an entity tag: W/"etag". */
const char *ra_entity_etag_header(apr_pool_t *pool, const char *etag);

/* Whether an If-Match header value matches the entity tag etag: "*" matches
 * any entity; else one of the comma-separated entity tags, compared weakly
 * (a W/ prefix is ignored on both sides, as Graph's ETags are weak). */
int ra_entity_if_match(const char *if_match, const char *etag);

#endif
