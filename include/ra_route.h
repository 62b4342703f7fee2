/* Routes of the entity set: which resource a request path names, below
 * {service root}/deviceManagement/remoteAssistancePartners. Pure logic. */
#ifndef RA_ROUTE_H
#define RA_ROUTE_H

#include <stddef.h>

#include <apr_pools.h>

/* The entity set's path below the service root. */
#define RA_ROUTE_COLLECTION_PATH "/deviceManagement/remoteAssistancePartners"

typedef enum {
    RA_ROUTE_COLLECTION = 0,    /* .../remoteAssistancePartners */
    RA_ROUTE_COUNT,             /* .../remoteAssistancePartners/$count */
    RA_ROUTE_ENTITY,            /* .../remoteAssistancePartners/{id}, ('{id}'), (id='{id}') */
    RA_ROUTE_BEGIN_ONBOARDING,  /* {entity}/beginOnboarding (or microsoft.graph.-qualified) */
    RA_ROUTE_DISCONNECT,        /* {entity}/disconnect (or microsoft.graph.-qualified) */
    RA_ROUTE_SERVICE_DOCUMENT,  /* {root}/ */
    RA_ROUTE_METADATA,          /* {root}/$metadata */
    RA_ROUTE_DEVICE_MANAGEMENT, /* {root}/deviceManagement, the singleton */
    RA_ROUTE_KINDS
} ra_route_kind_e;

typedef struct {
    ra_route_kind_e kind;
    const char *root_path;  /* the path before /deviceManagement/..., possibly "" */
    const char *id;         /* entity and action routes; a valid id (ra_entity_id_valid) */
} ra_route_t;

typedef enum {
    RA_ROUTE_OK,
    RA_ROUTE_NOT_FOUND,  /* no such resource: 404 ResourceNotFound */
    RA_ROUTE_BAD_KEY,    /* a key literal that is not one: 400 BadRequest */
    RA_ROUTE_BAD_SEGMENT /* a segment after a resource that has none such: 400
                          * BadRequest, as Graph answers */
} ra_route_status_e;

/* Parses a decoded request path. Segment names (the entity set, $count, the
 * actions) match case-insensitively, as Graph's do; ids are case-sensitive.
 * On anything but RA_ROUTE_OK, *message is a Graph error message. */
ra_route_status_e ra_route_parse(apr_pool_t *pool, const char *path, ra_route_t *route,
                                 const char **message);

/* The service root's own resources below a version root, beside the entity
 * set: rest is what follows the root in a decoded path. When it names one
 * ("" or "/" the service document, "/$metadata", "/deviceManagement";
 * names case-insensitive, a trailing '/' allowed), sets route->kind and
 * returns 1 (route->root_path is left to the caller); else 0. */
int ra_route_service(const char *rest, ra_route_t *route);

/* When path starts with collection_path (compared case-insensitively)
 * followed by its end, '/' or '(', the length of that prefix; else 0. */
size_t ra_route_under(const char *path, const char *collection_path);

#endif
