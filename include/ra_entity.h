/* The remoteAssistancePartner entity: which properties each API version
 * defines, how a request body is validated, and how the stored entity is
 * rendered. Pure logic over APR and jansson. */
#ifndef RA_ENTITY_H
#define RA_ENTITY_H

#include <apr_pools.h>
#include <jansson.h>

#define RA_ENTITY_TYPE "microsoft.graph.remoteAssistancePartner"
#define RA_ENTITY_ODATA_TYPE "#" RA_ENTITY_TYPE

typedef enum {
    RA_VERSION_V1 = 0,
    RA_VERSION_BETA
} ra_version_e;

/* "v1.0" or "beta" */
const char *ra_version_name(ra_version_e version);

/* Parses a RemoteAssistApiVersion word; returns 0 when it is neither. */
int ra_version_parse(const char *word, ra_version_e *version);

/* One partner as stored; NULL members are JSON null. */
typedef struct {
    const char *id;
    const char *display_name;
    const char *onboarding_url;
    const char *onboarding_status;
    const char *last_connection_date_time;
    const char *onboarding_request_expiry_date_time; /* beta only */
} ra_partner_t;

/* Validates a decoded request body against the version's properties and fills
 * partner with pool copies of the values (id stays NULL when not supplied).
 * Returns 1 when valid; else 0 with *message set to a Graph error message
 * that names the offending property. */
int ra_entity_from_json(apr_pool_t *pool, ra_version_e version, json_t *body,
                        ra_partner_t *partner, const char **message);

/* The response body: @odata.context, @odata.type, then every property of the
 * version in documented order. The caller owns the returned reference. */
json_t *ra_entity_to_json(const ra_partner_t *partner, ra_version_e version,
                          const char *context_url);

/* Whether s is an Edm.DateTimeOffset literal as Graph accepts it:
 * YYYY-MM-DDThh:mm[:ss[.f{1,7}]](Z|+hh:mm|-hh:mm), a real calendar date. */
int ra_entity_datetime_valid(const char *s);

/* Whether s may be a partner id: 1 to RA_ENTITY_ID_MAX characters from the
 * URL-unreserved set, so it needs no escaping in a key literal or URL. */
#define RA_ENTITY_ID_MAX 128
int ra_entity_id_valid(const char *s);

#endif
