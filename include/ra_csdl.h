/* The service's $metadata: the CSDL of exactly what one version root serves
 * (the remoteAssistancePartner type of that version, its status enum with
 * member values, the deviceManagement singleton with the containment
 * navigation property, the two bound actions, and Capabilities annotations
 * that say what the query options do here), in CSDL XML and CSDL JSON;
 * with the audit events (auditEvent, its complex types, the auditEvents
 * navigation property, its two functions and its Capabilities) when that
 * root serves them.
 * Built once from the entity's property table, never from outside text.
 * Pure logic over APR, libxml2's writer and jansson. */
#ifndef RA_CSDL_H
#define RA_CSDL_H

#include <apr_pools.h>

#include "ra_entity.h"

typedef struct {
    const char *xml;        /* application/xml */
    apr_size_t xml_len;
    const char *json;       /* application/json */
    apr_size_t json_len;
    const char *etag;       /* one entity tag for both forms, without quotes */
} ra_csdl_t;

/* The documents of version, with the audit events when audit is not 0,
 * allocated from pool; NULL when the XML writer or jansson failed (out of
 * memory). */
const ra_csdl_t *ra_csdl_build(apr_pool_t *pool, ra_version_e version, int audit);

#endif
