/* ra_route: which resource a request path names, the service root before
 * it, the id, and 404 (no such resource) versus 400 (a bad key literal). */
#include <string.h>

#include <apr_pools.h>
#include <apr_strings.h>

#include "ra_entity.h"
#include "ra_route.h"
#include "suites.h"

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))
#define SET "/v1.0/deviceManagement/remoteAssistancePartners"

typedef struct {
    const char *path;
    ra_route_kind_e kind;
    const char *root;
    const char *id;  /* NULL: none */
} route_case_t;

static void assert_route_ok(const route_case_t *c)
{
    ra_route_t route;
    const char *message = "(unset)";
    ra_route_status_e status = ra_route_parse(pool, c->path, &route, &message);
    ck_assert_msg(status == RA_ROUTE_OK, "%s: status %d (%s)", c->path, (int)status,
                  message ? message : "no message");
    ck_assert_ptr_null(message);
    ck_assert_msg(route.kind == c->kind, "%s: kind %d, expected %d", c->path, (int)route.kind,
                  (int)c->kind);
    ck_assert_msg(!strcmp(route.root_path, c->root), "%s: root \"%s\", expected \"%s\"",
                  c->path, route.root_path, c->root);
    if (c->id) {
        ck_assert_msg(route.id && !strcmp(route.id, c->id), "%s: id %s, expected %s", c->path,
                      route.id ? route.id : "(none)", c->id);
    }
    else {
        ck_assert_msg(route.id == NULL, "%s: id %s", c->path, route.id);
    }
}

/* Every form of every route. */
START_TEST(routes)
{
    static const route_case_t cases[] = {
        /* the collection; the service root is what precedes it */
        { SET, RA_ROUTE_COLLECTION, "/v1.0", NULL },
        { "/beta/deviceManagement/remoteAssistancePartners/", RA_ROUTE_COLLECTION, "/beta",
          NULL },
        /* segment names are case-insensitive, as Graph's are */
        { "/v1.0/DEVICEMANAGEMENT/RemoteAssistancePARTNERS", RA_ROUTE_COLLECTION, "/v1.0",
          NULL },
        { "/deviceManagement/remoteAssistancePartners", RA_ROUTE_COLLECTION, "", NULL },
        { "/deviceManagement/remoteAssistancePartners/", RA_ROUTE_COLLECTION, "", NULL },
        { "/graph/v1.0/deviceManagement/remoteAssistancePartners", RA_ROUTE_COLLECTION,
          "/graph/v1.0", NULL },
        /* the first occurrence that ends a segment is the entity set */
        { "/x/deviceManagement/remoteAssistancePartnersY/deviceManagement/"
          "remoteAssistancePartners", RA_ROUTE_COLLECTION,
          "/x/deviceManagement/remoteAssistancePartnersY", NULL },
        /* $count */
        { SET "/$count", RA_ROUTE_COUNT, "/v1.0", NULL },
        { SET "/$count/", RA_ROUTE_COUNT, "/v1.0", NULL },
        { SET "/$COUNT", RA_ROUTE_COUNT, "/v1.0", NULL },
        { "/deviceManagement/remoteAssistancePartners/$Count", RA_ROUTE_COUNT, "", NULL },
        /* an entity, by the three key forms; ids are case-sensitive and any
         * URL-unreserved characters */
        { SET "/abc", RA_ROUTE_ENTITY, "/v1.0", "abc" },
        { SET "/abc/", RA_ROUTE_ENTITY, "/v1.0", "abc" },
        { SET "('abc')", RA_ROUTE_ENTITY, "/v1.0", "abc" },
        { SET "('abc')/", RA_ROUTE_ENTITY, "/v1.0", "abc" },
        { SET "(id='abc')", RA_ROUTE_ENTITY, "/v1.0", "abc" },
        { SET "/ABC", RA_ROUTE_ENTITY, "/v1.0", "ABC" },
        { SET "/Az09-._~", RA_ROUTE_ENTITY, "/v1.0", "Az09-._~" },
        { SET "('Az09-._~')", RA_ROUTE_ENTITY, "/v1.0", "Az09-._~" },
        { SET "/9c1f0e6a-3b7d-4f0e-9a51-3c2d1e0f4a5b", RA_ROUTE_ENTITY, "/v1.0",
          "9c1f0e6a-3b7d-4f0e-9a51-3c2d1e0f4a5b" },
        /* $count is a segment name, not an id; a longer one is an id if valid */
        { SET "/count", RA_ROUTE_ENTITY, "/v1.0", "count" },
        { "/deviceManagement/remoteAssistancePartners('x')", RA_ROUTE_ENTITY, "", "x" },
        /* the bound actions, plain or namespace-qualified */
        { SET "/p1/beginOnboarding", RA_ROUTE_BEGIN_ONBOARDING, "/v1.0", "p1" },
        { SET "/p1/beginOnboarding/", RA_ROUTE_BEGIN_ONBOARDING, "/v1.0", "p1" },
        { SET "/p1/BEGINONBOARDING", RA_ROUTE_BEGIN_ONBOARDING, "/v1.0", "p1" },
        { SET "/p1/microsoft.graph.beginOnboarding", RA_ROUTE_BEGIN_ONBOARDING, "/v1.0", "p1" },
        { SET "('p1')/beginOnboarding", RA_ROUTE_BEGIN_ONBOARDING, "/v1.0", "p1" },
        { SET "(id='p1')/Microsoft.Graph.beginOnboarding", RA_ROUTE_BEGIN_ONBOARDING, "/v1.0",
          "p1" },
        { SET "/p1/disconnect", RA_ROUTE_DISCONNECT, "/v1.0", "p1" },
        { SET "/p1/Disconnect/", RA_ROUTE_DISCONNECT, "/v1.0", "p1" },
        { SET "('p1')/microsoft.graph.disconnect", RA_ROUTE_DISCONNECT, "/v1.0", "p1" },
        { "/beta/deviceManagement/remoteAssistancePartners/p2/disconnect", RA_ROUTE_DISCONNECT,
          "/beta", "p2" },
    };
    for (size_t i = 0; i < COUNT_OF(cases); i++) {
        assert_route_ok(&cases[i]);
    }
}
END_TEST

typedef struct {
    const char *path;
    ra_route_status_e status;
    const char *message;  /* NULL: only that there is one */
} refused_case_t;

static void assert_refused(const refused_case_t *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const refused_case_t *c = &cases[i];
        ra_route_t route;
        const char *message = NULL;
        ra_route_status_e status = ra_route_parse(pool, c->path, &route, &message);
        ck_assert_msg(status == c->status, "%s: status %d, expected %d (%s)", c->path,
                      (int)status, (int)c->status, message ? message : "no message");
        ck_assert_msg(message != NULL, "%s: no message", c->path);
        if (c->message) {
            ck_assert_str_eq(message, c->message);
        }
    }
}

START_TEST(not_found)
{
    static const refused_case_t cases[] = {
        { "/v1.0/deviceManagement/remoteAssistancePartner", RA_ROUTE_NOT_FOUND,
          "Resource not found: this service answers "
          "deviceManagement/remoteAssistancePartners only." },
        { "/v1.0/deviceManagement", RA_ROUTE_NOT_FOUND, NULL },
        { "/v1.0/deviceManagement/otherPartners", RA_ROUTE_NOT_FOUND, NULL },
        { "/v1.0/xdeviceManagement/remoteAssistancePartners", RA_ROUTE_NOT_FOUND, NULL },
        { SET "X", RA_ROUTE_NOT_FOUND, NULL },
        { "deviceManagement/remoteAssistancePartners", RA_ROUTE_NOT_FOUND, NULL },
        { "/", RA_ROUTE_NOT_FOUND, NULL },
        { "", RA_ROUTE_NOT_FOUND, NULL },
        /* an empty segment is no id */
        { SET "//", RA_ROUTE_NOT_FOUND, "Resource not found for the segment ''." },
        /* ids that are not ids name no resource */
        { SET "/a b", RA_ROUTE_NOT_FOUND, "Resource not found for the segment 'a b'." },
        { SET "/caf\xc3\xa9", RA_ROUTE_NOT_FOUND, NULL },
        { SET "/$count('a')", RA_ROUTE_NOT_FOUND, NULL },
        { SET "('a b')", RA_ROUTE_NOT_FOUND, "Resource not found for the segment '('a b')'." },
        { SET "('a''b')", RA_ROUTE_NOT_FOUND, NULL },
        /* below an entity: only the actions; any other segment is Graph's 400 */
        { SET "/p1/colour", RA_ROUTE_BAD_SEGMENT, "Resource not found for the segment 'colour'." },
        { SET "/p1/beginOnboarding/x", RA_ROUTE_BAD_SEGMENT,
          "Resource not found for the segment 'beginOnboarding/x'." },
        { SET "/p1//", RA_ROUTE_BAD_SEGMENT, NULL },
        { SET "/p1/microsoft.graph.", RA_ROUTE_BAD_SEGMENT, NULL },
        { SET "/p1/graph.disconnect", RA_ROUTE_BAD_SEGMENT, NULL },
        { SET "/p1/microsoft.graph.microsoft.graph.disconnect", RA_ROUTE_BAD_SEGMENT, NULL },
        { SET "/p1/beginOnboardingX", RA_ROUTE_BAD_SEGMENT, NULL },
        { SET "('p1')x", RA_ROUTE_BAD_SEGMENT, "Resource not found for the segment 'x'." },
        { SET "('p1')/colour", RA_ROUTE_BAD_SEGMENT, NULL },
        { SET "/$count/x", RA_ROUTE_BAD_SEGMENT, "Resource not found for the segment '$count/x'." },
        { SET "/p1/$value", RA_ROUTE_BAD_SEGMENT, "Resource not found for the segment '$value'." },
        { SET "/p1/$ref", RA_ROUTE_BAD_SEGMENT, "Resource not found for the segment '$ref'." },
        { SET "('p1')/nope", RA_ROUTE_BAD_SEGMENT, "Resource not found for the segment 'nope'." },
    };
    assert_refused(cases, COUNT_OF(cases));
}
END_TEST

START_TEST(bad_key)
{
    static const char not_literal[] = "The key of a remoteAssistancePartner is a string "
                                      "literal, such as ('id') or (id='id').";
    static const refused_case_t cases[] = {
        { SET "(abc)", RA_ROUTE_BAD_KEY, not_literal },
        { SET "(id=abc)", RA_ROUTE_BAD_KEY, not_literal },
        { SET "()", RA_ROUTE_BAD_KEY, not_literal },
        /* the key's name is case-sensitive, as OData's property names are */
        { SET "(ID='abc')", RA_ROUTE_BAD_KEY, not_literal },
        { SET "('abc", RA_ROUTE_BAD_KEY, "The key literal is not closed." },
        { SET "(''')", RA_ROUTE_BAD_KEY, "The key literal is not closed." },
        { SET "('abc'", RA_ROUTE_BAD_KEY, "The key literal must be followed by ')'." },
        { SET "('abc'x)", RA_ROUTE_BAD_KEY, "The key literal must be followed by ')'." },
    };
    assert_refused(cases, COUNT_OF(cases));
}
END_TEST

/* Ids longer than RA_ENTITY_ID_MAX are not ids; the message shows at most
 * 64 characters of what it names. */
START_TEST(id_length)
{
    char id[RA_ENTITY_ID_MAX + 2];
    ra_route_t route;
    const char *message;

    memset(id, 'a', sizeof(id));
    id[RA_ENTITY_ID_MAX] = '\0';
    ck_assert_int_eq(ra_route_parse(pool, apr_pstrcat(pool, SET "/", id, NULL), &route,
                                    &message), RA_ROUTE_OK);
    ck_assert_str_eq(route.id, id);
    ck_assert_int_eq(ra_route_parse(pool, apr_pstrcat(pool, SET "('", id, "')", NULL), &route,
                                    &message), RA_ROUTE_OK);
    id[RA_ENTITY_ID_MAX] = 'a';
    id[RA_ENTITY_ID_MAX + 1] = '\0';
    ck_assert_int_eq(ra_route_parse(pool, apr_pstrcat(pool, SET "/", id, NULL), &route,
                                    &message), RA_ROUTE_NOT_FOUND);
    ck_assert_str_eq(message, apr_psprintf(pool, "Resource not found for the segment '%.64s'.",
                                           id));
    ck_assert_int_eq(ra_route_parse(pool, apr_pstrcat(pool, SET "('", id, "')", NULL), &route,
                                    &message), RA_ROUTE_NOT_FOUND);
}
END_TEST

START_TEST(under)
{
    static const struct {
        const char *path;
        size_t len;
    } cases[] = {
        { "/deviceManagement/remoteAssistancePartners", sizeof(RA_ROUTE_COLLECTION_PATH) - 1 },
        { "/DEVICEMANAGEMENT/remoteassistancepartners/x", sizeof(RA_ROUTE_COLLECTION_PATH) - 1 },
        { "/deviceManagement/remoteAssistancePartners('x')",
          sizeof(RA_ROUTE_COLLECTION_PATH) - 1 },
        { "/deviceManagement/remoteAssistancePartners/", sizeof(RA_ROUTE_COLLECTION_PATH) - 1 },
        { "/deviceManagement/remoteAssistancePartnersX", 0 },
        { "/deviceManagement/remoteAssistancePartners$count", 0 },
        { "/deviceManagement/remoteAssistancePartner", 0 },
        { "/v1.0/deviceManagement/remoteAssistancePartners", 0 },
        { "", 0 },
    };
    for (size_t i = 0; i < COUNT_OF(cases); i++) {
        ck_assert_msg(ra_route_under(cases[i].path, RA_ROUTE_COLLECTION_PATH) == cases[i].len,
                      "%s", cases[i].path);
    }
    ck_assert_uint_eq(ra_route_under(SET "/x", "/v1.0/deviceManagement/remoteAssistancePartners"),
                      strlen(SET));
}
END_TEST

/* The service root's own resources, by what follows the version root. */
START_TEST(service)
{
    static const struct {
        const char *rest;
        int kind;  /* -1: not one */
    } cases[] = {
        { "", RA_ROUTE_SERVICE_DOCUMENT },
        { "/", RA_ROUTE_SERVICE_DOCUMENT },
        { "/$metadata", RA_ROUTE_METADATA },
        { "/$METADATA/", RA_ROUTE_METADATA },
        { "/deviceManagement", RA_ROUTE_DEVICE_MANAGEMENT },
        { "/devicemanagement/", RA_ROUTE_DEVICE_MANAGEMENT },
        { "//", -1 },
        { "/$metadata/x", -1 },
        { "/$metadataX", -1 },
        { "/deviceManagement/remoteAssistancePartners", -1 },
        { "/$batchX", -1 },
        { "x", -1 },
    };
    for (size_t i = 0; i < COUNT_OF(cases); i++) {
        ra_route_t route = { 0 };
        int found = ra_route_service(cases[i].rest, &route);
        ck_assert_msg(found == (cases[i].kind >= 0), "%s: %d", cases[i].rest, found);
        if (found) {
            ck_assert_msg((int)route.kind == cases[i].kind, "%s: kind %d", cases[i].rest,
                          (int)route.kind);
        }
    }
}
END_TEST

Suite *route_suite(void)
{
    Suite *s = suite_create("route");
    TCase *tc = pool_tcase(s, "parse");
    tcase_add_test(tc, routes);
    tcase_add_test(tc, not_found);
    tcase_add_test(tc, bad_key);
    tcase_add_test(tc, id_length);
    tcase_add_test(tc, under);
    tcase_add_test(tc, service);
    return s;
}
