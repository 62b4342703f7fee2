/* ra_csdl: $metadata in both forms, per version: well-formed XML (libxml2
 * reads it back), JSON jansson reads back, the beta-only property in beta
 * alone, and one validator per version. The integration tests compare the
 * served documents with Microsoft's CSDL facts and OASIS's converter. */
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
    const ra_csdl_t *v1 = ra_csdl_build(pool, RA_VERSION_V1);
    const ra_csdl_t *beta = ra_csdl_build(pool, RA_VERSION_BETA);
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
    ck_assert_str_eq(v1->etag, ra_csdl_build(pool, RA_VERSION_V1)->etag);
    ck_assert_int_eq(strlen(v1->etag), 32);
}
END_TEST

Suite *csdl_suite(void)
{
    Suite *s = suite_create("csdl");
    TCase *tc = pool_tcase(s, "build");
    tcase_add_test(tc, both_forms_per_version);
    return s;
}
