/* Request paths of the entity set, parsed without httpd. */
#include "ra_route.h"

#include <string.h>
#include <strings.h>

#include <apr_strings.h>

#include "ra_entity.h"

#define COLLECTION_LEN (sizeof(RA_ROUTE_COLLECTION_PATH) - 1)

static int ends_segment(char c)
{
    return c == '\0' || c == '/' || c == '(';
}

size_t ra_route_under(const char *path, const char *collection_path)
{
    size_t len = strlen(collection_path);
    return !strncasecmp(path, collection_path, len) && ends_segment(path[len]) ? len : 0;
}

/* The bound actions, by segment name; the namespace-qualified form too. */
static const struct {
    const char *name;
    ra_route_kind_e kind;
} actions[] = {
    { "beginOnboarding", RA_ROUTE_BEGIN_ONBOARDING },
    { "disconnect", RA_ROUTE_DISCONNECT },
};

static int segment_is(const char *segment, size_t len, const char *name)
{
    return strlen(name) == len && !strncasecmp(segment, name, len);
}

static ra_route_status_e not_found(apr_pool_t *pool, const char *segment, size_t len,
                                   const char **message)
{
    *message = apr_psprintf(pool, "Resource not found for the segment '%.*s'.",
                            (int)(len > 64 ? 64 : len), segment);
    return RA_ROUTE_NOT_FOUND;
}

static ra_route_status_e bad_segment(apr_pool_t *pool, const char *segment, size_t len,
                                     const char **message)
{
    not_found(pool, segment, len, message);
    return RA_ROUTE_BAD_SEGMENT;
}

/* What follows an entity: nothing, "/", or one action segment; any other
 * segment ($value, $ref, a property) is Graph's 400. */
static ra_route_status_e after_entity(apr_pool_t *pool, const char *rest, ra_route_t *route,
                                      const char **message)
{
    if (*rest == '\0' || !strcmp(rest, "/")) {
        route->kind = RA_ROUTE_ENTITY;
        return RA_ROUTE_OK;
    }
    if (*rest != '/') {
        return bad_segment(pool, rest, strlen(rest), message);
    }
    const char *segment = rest + 1;
    size_t len = strcspn(segment, "/");
    if (segment[len] == '/' && segment[len + 1] != '\0') {
        return bad_segment(pool, segment, strlen(segment), message);
    }
    static const char qualifier[] = "microsoft.graph.";
    const char *name = segment;
    size_t name_len = len;
    if (len > sizeof(qualifier) - 1 && !strncasecmp(segment, qualifier, sizeof(qualifier) - 1)) {
        name += sizeof(qualifier) - 1;
        name_len -= sizeof(qualifier) - 1;
    }
    for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
        if (segment_is(name, name_len, actions[i].name)) {
            route->kind = actions[i].kind;
            return RA_ROUTE_OK;
        }
    }
    return bad_segment(pool, segment, len, message);
}

/* A key in parentheses: ('{id}') or (id='{id}'). *end gets what follows. */
static ra_route_status_e key_literal(apr_pool_t *pool, const char *p, ra_route_t *route,
                                     const char **end, const char **message)
{
    const char *start = p;
    p++; /* '(' */
    if (!strncmp(p, "id=", 3)) {
        p += 3;
    }
    if (*p != '\'') {
        *message = "The key of a remoteAssistancePartner is a string literal, "
                   "such as ('id') or (id='id').";
        return RA_ROUTE_BAD_KEY;
    }
    const char *id = ra_entity_string_literal(pool, p, &p);
    if (!id) {
        *message = "The key literal is not closed.";
        return RA_ROUTE_BAD_KEY;
    }
    if (*p != ')') {
        *message = "The key literal must be followed by ')'.";
        return RA_ROUTE_BAD_KEY;
    }
    *end = p + 1;
    if (!ra_entity_id_valid(id)) {
        return not_found(pool, start, (size_t)(*end - start), message);
    }
    route->id = id;
    return RA_ROUTE_OK;
}

/* The one list of what the module claims under a version root besides the
 * entity set (ra_route_service). */
static const struct {
    const char *path;
    ra_route_kind_e kind;
} service_paths[] = {
    { "", RA_ROUTE_SERVICE_DOCUMENT },
    { "/$metadata", RA_ROUTE_METADATA },
    { "/deviceManagement", RA_ROUTE_DEVICE_MANAGEMENT },
};

int ra_route_service(const char *rest, ra_route_t *route)
{
    size_t len = strlen(rest);
    if (len > 0 && rest[len - 1] == '/') {
        len--;
    }
    for (size_t i = 0; i < sizeof(service_paths) / sizeof(service_paths[0]); i++) {
        if (segment_is(rest, len, service_paths[i].path)) {
            route->kind = service_paths[i].kind;
            return 1;
        }
    }
    return 0;
}

/* The first occurrence of the entity set's path that ends a segment. */
static const char *find_collection(const char *path)
{
    for (const char *p = path; (p = strchr(p, '/')) != NULL; p++) {
        if (ra_route_under(p, RA_ROUTE_COLLECTION_PATH)) {
            return p;
        }
    }
    return NULL;
}

ra_route_status_e ra_route_parse(apr_pool_t *pool, const char *path, ra_route_t *route,
                                 const char **message)
{
    const char *at = find_collection(path);
    const char *rest, *end;
    ra_route_status_e status;

    memset(route, 0, sizeof(*route));
    *message = NULL;
    if (!at) {
        *message = "Resource not found: this service answers "
                   "deviceManagement/remoteAssistancePartners only.";
        return RA_ROUTE_NOT_FOUND;
    }
    route->root_path = apr_pstrmemdup(pool, path, (apr_size_t)(at - path));
    rest = at + COLLECTION_LEN;
    if (*rest == '\0' || !strcmp(rest, "/")) {
        route->kind = RA_ROUTE_COLLECTION;
        return RA_ROUTE_OK;
    }
    if (*rest == '(') {
        status = key_literal(pool, rest, route, &end, message);
        return status == RA_ROUTE_OK ? after_entity(pool, end, route, message) : status;
    }
    /* rest starts with '/' */
    const char *segment = rest + 1;
    size_t len = strcspn(segment, "/");
    if (segment_is(segment, len, "$count")) {
        if (segment[len] == '\0' || !strcmp(segment + len, "/")) {
            route->kind = RA_ROUTE_COUNT;
            return RA_ROUTE_OK;
        }
        return bad_segment(pool, segment, strlen(segment), message);
    }
    char *id = apr_pstrmemdup(pool, segment, len);
    if (!ra_entity_id_valid(id)) {
        return not_found(pool, segment, len, message);
    }
    route->id = id;
    return after_entity(pool, segment + len, route, message);
}
