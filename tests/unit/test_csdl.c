/* ra_csdl: $metadata in both forms, per version: well-formed XML (libxml2
 * reads it back), JSON jansson reads back, the beta-only property in beta
 * alone, the audit events only when the root serves them, and one validator
 * per document. The integration tests compare the
 * served documents with Microsoft's CSDL facts and OASIS's converter. */
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include "ra_csdl.h"
#include "suites.h"

/* The number of nodes an XPath expression selects in the CSDL XML. */
static int xpath_count(const ra_csdl_t *csdl, const char *expression)
{
    xmlDocPtr doc = xmlReadMemory(csdl->xml, (int)csdl->xml_len, "metadata.xml", NULL,
                                  XML_PARSE_NONET);
    ck_assert_ptr_nonnull(doc);
    xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
    xmlXPathRegisterNs(ctx, BAD_CAST "edmx", BAD_CAST "http://docs.oasis-open.org/odata/ns/edmx");
    xmlXPathRegisterNs(ctx, BAD_CAST "edm", BAD_CAST "http://docs.oasis-open.org/odata/ns/edm");
    xmlXPathObjectPtr found = xmlXPathEvalExpression(BAD_CAST expression, ctx);
    ck_assert_ptr_nonnull(found);
    int n = found->nodesetval ? found->nodesetval->nodeNr : 0;
    xmlXPathFreeObject(found);
    xmlXPathFreeContext(ctx);
    xmlFreeDoc(doc);
    return n;
}

#define PARTNER "/edmx:Edmx/edmx:DataServices/edm:Schema/edm:EntityType" \
    "[@Name='remoteAssistancePartner']"

START_TEST(both_forms_per_version)
{
    const ra_csdl_t *v1 = ra_csdl_build(pool, RA_VERSION_V1, 0);
    const ra_csdl_t *beta = ra_csdl_build(pool, RA_VERSION_BETA, 0);
    ck_assert_ptr_nonnull(v1);
    ck_assert_ptr_nonnull(beta);

    ck_assert_int_eq(xpath_count(v1, PARTNER "/edm:Property"), 4);
    ck_assert_int_eq(xpath_count(beta, PARTNER "/edm:Property"), 5);
    ck_assert_int_eq(xpath_count(beta, PARTNER "/edm:Property[@Name="
                                 "'onboardingRequestExpiryDateTime' and @Nullable='false']"), 1);
    ck_assert_int_eq(xpath_count(v1, PARTNER "/edm:Property[@Nullable='false']"), 2);
    ck_assert_int_eq(xpath_count(v1, "//edm:EnumType/edm:Member[@Name='onboarding' and "
                                 "@Value='1']"), 1);
    ck_assert_int_eq(xpath_count(v1, "//edm:Action[@IsBound='true']/edm:Parameter"), 2);

    json_t *doc = json_loadb(v1->json, v1->json_len, JSON_REJECT_DUPLICATES, NULL);
    ck_assert_ptr_nonnull(doc);
    json_t *partner = json_object_get(json_object_get(doc, "microsoft.graph"),
                                      "remoteAssistancePartner");
    ck_assert_ptr_null(json_object_get(partner, "onboardingRequestExpiryDateTime"));
    ck_assert(json_is_true(json_object_get(json_object_get(partner, "displayName"),
                                           "$Nullable")));
    ck_assert_ptr_null(json_object_get(json_object_get(partner, "lastConnectionDateTime"),
                                       "$Nullable"));
    json_decref(doc);

    /* one validator per version, and the same for the same build */
    ck_assert_str_ne(v1->etag, beta->etag);
    ck_assert_str_eq(v1->etag, ra_csdl_build(pool, RA_VERSION_V1, 0)->etag);
    ck_assert_int_eq(strlen(v1->etag), 32);

    /* without the audit events, nothing of them */
    ck_assert_int_eq(xpath_count(v1, "//*[contains(@Name, 'udit')]"), 0);
    ck_assert_ptr_null(strstr(v1->json, "udit"));
}
END_TEST

#define SCHEMA "/edmx:Edmx/edmx:DataServices/edm:Schema"
#define AUDIT_EVENT SCHEMA "/edm:EntityType[@Name='auditEvent' and @BaseType='graph.entity']"
#define AUDIT_RESTRICTION "//edm:Annotation[@Term='Capabilities.NavigationRestrictions']" \
    "//edm:Record[edm:PropertyValue[@Property='NavigationProperty' and " \
    "@NavigationPropertyPath='auditEvents']]"

/* The type's members as CSDL JSON says them: name, $Type (Edm.String by
 * default), $Collection and $Nullable (false by default). */
static void json_member_is(json_t *type, const char *name, const char *expected_type,
                           int collection, int nullable)
{
    json_t *member = json_object_get(type, name);
    ck_assert_msg(member != NULL, "no %s", name);
    json_t *t = json_object_get(member, "$Type");
    ck_assert_str_eq(t ? json_string_value(t) : "Edm.String", expected_type);
    ck_assert_int_eq(json_is_true(json_object_get(member, "$Collection")), collection);
    ck_assert_int_eq(json_is_true(json_object_get(member, "$Nullable")), nullable);
}

START_TEST(audit_events_in_both_forms)
{
    for (int v = RA_VERSION_V1; v <= RA_VERSION_BETA; v++) {
        const ra_csdl_t *csdl = ra_csdl_build(pool, (ra_version_e)v, 1);
        ck_assert_ptr_nonnull(csdl);
        ck_assert_str_ne(csdl->etag, ra_csdl_build(pool, (ra_version_e)v, 0)->etag);

        /* XML: Microsoft's properties, types and nullability */
        ck_assert_int_eq(xpath_count(csdl, AUDIT_EVENT "/edm:Property"), 11);
        /* the two value types, and the collection (of items never null) */
        ck_assert_int_eq(xpath_count(csdl, AUDIT_EVENT "/edm:Property[@Nullable='false']"), 3);
        ck_assert_int_eq(xpath_count(csdl, AUDIT_EVENT "/edm:Property[@Name='correlationId' "
                                     "and @Type='Edm.Guid' and @Nullable='false']"), 1);
        ck_assert_int_eq(xpath_count(csdl, AUDIT_EVENT "/edm:Property[@Name="
                                     "'activityDateTime' and @Type='Edm.DateTimeOffset' and "
                                     "@Nullable='false' and @Precision='7']"), 1);
        ck_assert_int_eq(xpath_count(csdl, AUDIT_EVENT "/edm:Property[@Name='resources' and "
                                     "@Type='Collection(graph.auditResource)']"), 1);
        ck_assert_int_eq(xpath_count(csdl, AUDIT_EVENT "/edm:Property[@Name='actor' and "
                                     "@Type='graph.auditActor']"), 1);
        ck_assert_int_eq(xpath_count(csdl, SCHEMA "/edm:ComplexType[@Name='auditActor']"
                                     "/edm:Property"), 9);
        ck_assert_int_eq(xpath_count(csdl, SCHEMA "/edm:ComplexType[@Name='auditActor']"
                                     "/edm:Property[@Name='userPermissions' and "
                                     "@Type='Collection(Edm.String)']"), 1);
        ck_assert_int_eq(xpath_count(csdl, SCHEMA "/edm:ComplexType[@Name='auditResource']"
                                     "/edm:Property[@Name='modifiedProperties' and "
                                     "@Type='Collection(graph.auditProperty)']"), 1);
        ck_assert_int_eq(xpath_count(csdl, SCHEMA "/edm:ComplexType[@Name='auditResource']"
                                     "/edm:Property"), 5);
        ck_assert_int_eq(xpath_count(csdl, SCHEMA "/edm:ComplexType[@Name='auditProperty']"
                                     "/edm:Property"), 3);
        ck_assert_int_eq(xpath_count(csdl, SCHEMA "/edm:ComplexType/edm:Property"
                                     "[@Nullable='false']"), 2);
        ck_assert_int_eq(xpath_count(csdl, SCHEMA "/edm:EntityType[@Name='deviceManagement']"
                                     "/edm:NavigationProperty[@Name='auditEvents' and "
                                     "@Type='Collection(graph.auditEvent)' and "
                                     "@ContainsTarget='true']"), 1);
        ck_assert_int_eq(xpath_count(csdl, SCHEMA "/edm:Function[@IsBound='true' and "
                                     "edm:Parameter[@Type='Collection(graph.auditEvent)'] and "
                                     "edm:ReturnType[@Type='Collection(Edm.String)'] and "
                                     "(@Name='getAuditCategories' or "
                                     "@Name='getAuditActivityTypes')]"), 2);
        /* the Capabilities: what mod_ra_audit.c does */
        ck_assert_int_eq(xpath_count(csdl, AUDIT_RESTRICTION "/edm:PropertyValue"
                                     "[@Property='FilterRestrictions']//edm:PropertyValue"
                                     "[@Property='NonFilterableProperties']/edm:Collection"
                                     "/edm:PropertyPath"), 6);
        ck_assert_int_eq(xpath_count(csdl, AUDIT_RESTRICTION "/edm:PropertyValue"
                                     "[@Property='SortRestrictions']//edm:PropertyPath"
                                     "[.='activityDateTime' or .='correlationId' or "
                                     ".='category']"), 0);
        ck_assert_int_eq(xpath_count(csdl, AUDIT_RESTRICTION "/edm:PropertyValue"
                                     "[@Property='SortRestrictions']//edm:PropertyPath"
                                     "[.='actor']"), 1);
        ck_assert_int_eq(xpath_count(csdl, AUDIT_RESTRICTION "/edm:PropertyValue"
                                     "[@Property='SelectSupport']//edm:PropertyValue"
                                     "[@Property='Supported' and @Bool='false']"), 1);
        for (const char *const *term = (const char *const[]){ "Insert", "Update", "Delete",
                                                               NULL };
             *term; term++) {
            char expression[512];
            snprintf(expression, sizeof(expression), AUDIT_RESTRICTION "/edm:PropertyValue"
                     "[@Property='%sRestrictions']//edm:PropertyValue[@Bool='false']", *term);
            ck_assert_int_eq(xpath_count(csdl, expression), 1);
        }
        ck_assert_int_eq(xpath_count(csdl, AUDIT_RESTRICTION "/edm:PropertyValue[(@Property="
                                     "'TopSupported' or @Property='SkipSupported') and "
                                     "@Bool='true']"), 2);

        /* JSON: the same */
        json_t *doc = json_loadb(csdl->json, csdl->json_len, JSON_REJECT_DUPLICATES, NULL);
        ck_assert_ptr_nonnull(doc);
        json_t *schema = json_object_get(doc, "microsoft.graph");
        json_t *event = json_object_get(schema, "auditEvent");
        ck_assert_str_eq(json_string_value(json_object_get(event, "$BaseType")),
                         "graph.entity");
        json_member_is(event, "displayName", "Edm.String", 0, 1);
        json_member_is(event, "actor", "graph.auditActor", 0, 1);
        json_member_is(event, "activityDateTime", "Edm.DateTimeOffset", 0, 0);
        json_member_is(event, "correlationId", "Edm.Guid", 0, 0);
        json_member_is(event, "resources", "graph.auditResource", 1, 0);
        json_member_is(event, "category", "Edm.String", 0, 1);
        ck_assert_int_eq(json_object_size(event), 11 + 2);
        json_t *actor = json_object_get(schema, "auditActor");
        ck_assert_str_eq(json_string_value(json_object_get(actor, "$Kind")), "ComplexType");
        json_member_is(actor, "userPermissions", "Edm.String", 1, 0);
        json_member_is(actor, "auditActorType", "Edm.String", 0, 1);
        json_member_is(json_object_get(schema, "auditResource"), "modifiedProperties",
                       "graph.auditProperty", 1, 0);
        json_member_is(json_object_get(schema, "auditProperty"), "oldValue", "Edm.String", 0,
                       1);
        json_member_is(json_object_get(schema, "deviceManagement"), "auditEvents",
                       "graph.auditEvent", 1, 0);
        for (const char *const *name = (const char *const[]){ "getAuditCategories",
                                                              "getAuditActivityTypes", NULL };
             *name; name++) {
            json_t *function = json_array_get(json_object_get(schema, *name), 0);
            ck_assert_str_eq(json_string_value(json_object_get(function, "$Kind")),
                             "Function");
            ck_assert(json_is_true(json_object_get(function, "$IsBound")));
            json_t *binding = json_array_get(json_object_get(function, "$Parameter"), 0);
            ck_assert_str_eq(json_string_value(json_object_get(binding, "$Type")),
                             "graph.auditEvent");
            ck_assert(json_is_true(json_object_get(binding, "$Collection")));
            ck_assert(json_is_true(json_object_get(json_object_get(function, "$ReturnType"),
                                                   "$Collection")));
        }
        json_t *restricted = json_object_get(
            json_object_get(json_object_get(json_object_get(schema, "$Annotations"),
                                            "graph.GraphService/deviceManagement"),
                            "@Capabilities.NavigationRestrictions"),
            "RestrictedProperties");
        ck_assert_int_eq(json_array_size(restricted), 2);
        json_t *audit = json_array_get(restricted, 1);
        ck_assert_str_eq(json_string_value(json_object_get(audit, "NavigationProperty")),
                         "auditEvents");
        ck_assert_int_eq(json_array_size(json_object_get(json_object_get(
            audit, "SortRestrictions"), "NonSortableProperties")), 6);
        ck_assert(json_is_false(json_object_get(json_object_get(audit, "SelectSupport"),
                                                "Supported")));
        ck_assert(json_is_false(json_object_get(json_object_get(audit, "InsertRestrictions"),
                                                "Insertable")));
        json_decref(doc);
    }
}
END_TEST

Suite *csdl_suite(void)
{
    Suite *s = suite_create("csdl");
    TCase *tc = pool_tcase(s, "build");
    tcase_add_test(tc, both_forms_per_version);
    tcase_add_test(tc, audit_events_in_both_forms);
    return s;
}
