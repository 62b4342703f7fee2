/* ra_odata: context and resource URLs, content negotiation, GUIDs, request
 * ids, status codes and the Graph error body. (Paths: test_route.c.) */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <apr_hash.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <apr_time.h>
#include <jansson.h>

#include "ra_odata.h"
#include "suites.h"


/* ---- URLs ---- */

#define CONTEXT "https://graph.example/v1.0/$metadata#deviceManagement/remoteAssistancePartners"

START_TEST(context_url)
{
    static const unsigned v1_all = RA_PROP_BIT(RA_PROP_ID) | RA_PROP_BIT(RA_PROP_DISPLAY_NAME)
                                   | RA_PROP_BIT(RA_PROP_ONBOARDING_URL)
                                   | RA_PROP_BIT(RA_PROP_ONBOARDING_STATUS)
                                   | RA_PROP_BIT(RA_PROP_LAST_CONNECTION);
    static const struct {
        ra_version_e version;
        unsigned select;
        int entity;
        const char *url;
    } cases[] = {
        { RA_VERSION_V1, 0, 1, CONTEXT "/$entity" },
        { RA_VERSION_V1, 0, 0, CONTEXT },
        /* selected properties in the document's order */
        { RA_VERSION_V1, RA_PROP_BIT(RA_PROP_ONBOARDING_STATUS) | RA_PROP_BIT(RA_PROP_ID), 0,
          CONTEXT "(id,onboardingStatus)" },
        { RA_VERSION_V1, RA_PROP_BIT(RA_PROP_DISPLAY_NAME), 1, CONTEXT "(displayName)/$entity" },
        /* every property of the version is no selection at all */
        { RA_VERSION_V1, v1_all, 0, CONTEXT },
        { RA_VERSION_V1, (1u << RA_PROP_COUNT) - 1, 1, CONTEXT "/$entity" },
        { RA_VERSION_BETA, (1u << RA_PROP_COUNT) - 1, 0, CONTEXT },
        /* but not in beta, which has one more */
        { RA_VERSION_BETA, v1_all, 0,
          CONTEXT "(id,displayName,onboardingUrl,onboardingStatus,lastConnectionDateTime)" },
        { RA_VERSION_BETA, RA_PROP_BIT(RA_PROP_EXPIRY), 1,
          CONTEXT "(onboardingRequestExpiryDateTime)/$entity" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_str_eq(ra_odata_context_url(pool, "https://graph.example/v1.0",
                                              cases[i].version, cases[i].select,
                                              cases[i].entity), cases[i].url);
    }
    ck_assert_str_eq(ra_odata_context_url(pool, "", RA_VERSION_V1, 0, 1),
                     "/$metadata#deviceManagement/remoteAssistancePartners/$entity");
}
END_TEST

START_TEST(collection_url)
{
    ck_assert_str_eq(ra_odata_collection_url(pool, "https://graph.example/beta"),
                     "https://graph.example/beta/deviceManagement/remoteAssistancePartners");
    ck_assert_str_eq(ra_odata_collection_url(pool, ""),
                     "/deviceManagement/remoteAssistancePartners");
}
END_TEST

START_TEST(entity_url)
{
    ck_assert_str_eq(ra_odata_entity_url(pool, "https://graph.example/beta", "a-b.c_d~e"),
                     "https://graph.example/beta/deviceManagement/"
                     "remoteAssistancePartners('a-b.c_d~e')");
    ck_assert_str_eq(ra_odata_entity_url(pool, "", "x"),
                     "/deviceManagement/remoteAssistancePartners('x')");
}
END_TEST

/* ---- ra_odata_accepts ---- */

static int accepts_json(const char *accept)
{
    return ra_odata_accepts(pool, accept, "application/json");
}

START_TEST(accepts_json_yes)
{
    static const char *const accepts[] = {
        "",
        "   ",
        "*/*",
        "application/json",
        "application/json;odata.metadata=minimal",
        "application/json; odata.metadata=minimal; charset=utf-8",
        "APPLICATION/JSON",
        "text/html, application/*;q=0.5",
        "text/html,application/json;q=0.1",
        "application/xml;q=1, */*;q=0.01",
        "application/json;q=\"0.5\"",
        " application/json ; q=1 ",
    };
    ck_assert_int_eq(accepts_json(NULL), 1);
    for (size_t i = 0; i < sizeof(accepts) / sizeof(accepts[0]); i++) {
        ck_assert_msg(accepts_json(accepts[i]) == 1,
                      "Accept \"%s\" refused JSON", accepts[i]);
    }
}
END_TEST

START_TEST(accepts_json_no)
{
    static const char *const accepts[] = {
        "application/json;q=0",
        "application/json; q=0.000",
        "*/*;q=0",
        "application/*;q=0",
        "text/html",
        "application/xml, text/plain",
        "application/jsonx",
        "application/json-patch+json",
        "text/json",
    };
    for (size_t i = 0; i < sizeof(accepts) / sizeof(accepts[0]); i++) {
        ck_assert_msg(accepts_json(accepts[i]) == 0,
                      "Accept \"%s\" admitted JSON", accepts[i]);
    }
}
END_TEST

typedef struct {
    const char *accept;
    int accepted;
} accept_case_t;

static void assert_accepts(const char *media_type, const accept_case_t *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg(ra_odata_accepts(pool, cases[i].accept, media_type) == cases[i].accepted,
                      "Accept \"%s\" should %sadmit %s",
                      cases[i].accept ? cases[i].accept : "(none)",
                      cases[i].accepted ? "" : "not ", media_type);
    }
}

/* RFC 9110 12.5.1: "If more than one media range applies to a given type,
 * the most specific reference has precedence": an explicit
 * application/json;q=0 excludes JSON whatever a wildcard says, and the other
 * way round. */
START_TEST(accepts_json_most_specific_decides)
{
    static const accept_case_t cases[] = {
        { "*/*, application/json;q=0", 0 },
        { "application/json;q=0, application/*", 0 },
        { "*/*;q=0, application/json", 1 },
        { "application/*;q=0, application/json;q=0.1", 1 },
        { "*/*;q=0, application/*;q=0.5", 1 },
    };
    assert_accepts("application/json", cases, sizeof(cases) / sizeof(cases[0]));
}
END_TEST

/* $count answers text/plain: the same rules for another media type. */
START_TEST(accepts_text_plain)
{
    static const accept_case_t cases[] = {
        { NULL, 1 },
        { "", 1 },
        { "text/plain", 1 },
        { "TEXT/Plain;charset=utf-8", 1 },
        { "text/*", 1 },
        { "*/*", 1 },
        { "application/json, text/*;q=0.2", 1 },
        { "*/*;q=0, text/plain", 1 },
        { "text/*;q=0, text/plain;q=0.5", 1 },
        { "application/json", 0 },
        { "text/html", 0 },
        { "text/plainx", 0 },
        { "text/plain;q=0", 0 },
        { "text/*;q=0", 0 },
        { "*/*, text/plain;q=0", 0 },
        { "text/plain;q=0, text/*", 0 },
    };
    assert_accepts("text/plain", cases, sizeof(cases) / sizeof(cases[0]));
}
END_TEST

START_TEST(accepts_json_leaves_input_alone)
{
    char accept[] = "Text/HTML, APPLICATION/JSON;q=0.5";
    ck_assert_int_eq(accepts_json(accept), 1);
    ck_assert_str_eq(accept, "Text/HTML, APPLICATION/JSON;q=0.5");
}
END_TEST

/* ---- ra_odata_is_json ---- */

START_TEST(is_json_yes)
{
    static const char *const types[] = {
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON;charset=UTF-8",
        "application/json;odata.metadata=minimal;charset=utf-8",
        "application/json; charset=\"utf-8\"",
        " application/json ",
        RA_ODATA_CONTENT_TYPE,
    };
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        ck_assert_msg(ra_odata_is_json(pool, types[i]) == 1,
                      "Content-Type \"%s\" not taken for JSON", types[i]);
    }
}
END_TEST

START_TEST(is_json_no)
{
    static const char *const types[] = {
        "application/json;charset=iso-8859-1",
        "application/json; charset=utf-16",
        "application/json; charset=",
        "text/plain",
        "application/jsonx",
        "application/json-patch+json",
        "application/x-www-form-urlencoded",
        "",
    };
    ck_assert_int_eq(ra_odata_is_json(pool, NULL), 0);
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        ck_assert_msg(ra_odata_is_json(pool, types[i]) == 0,
                      "Content-Type \"%s\" taken for JSON", types[i]);
    }
}
END_TEST

/* ---- ra_odata_new_guid ---- */

static void check_guid_version(const char *g, char version)
{
    ck_assert_ptr_nonnull(g);
    ck_assert_uint_eq(strlen(g), 36);
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            ck_assert_msg(g[i] == '-', "%s: no '-' at %d", g, i);
        }
        else {
            ck_assert_msg(isxdigit((unsigned char)g[i]) && !isupper((unsigned char)g[i]),
                          "%s: '%c' at %d is not a lower-case hex digit", g, g[i], i);
        }
    }
    ck_assert_msg(g[14] == version, "%s: version nibble is not %c", g, version);
    ck_assert_msg(strchr("89ab", g[19]) != NULL, "%s: variant nibble not 8-b", g);
}

static void check_guid(const char *g)
{
    check_guid_version(g, '4');
}

START_TEST(new_guid_format)
{
    const char *a = ra_odata_new_guid(pool);
    const char *b = ra_odata_new_guid(pool);
    check_guid(a);
    check_guid(b);
    ck_assert_str_ne(a, b);
}
END_TEST

START_TEST(new_guid_many)
{
    /* the variant and version bits are forced on random data: over many
     * GUIDs every variant nibble 8, 9, a and b shows up and none repeats */
    int seen[4] = { 0, 0, 0, 0 };
    apr_hash_t *all = apr_hash_make(pool);
    for (int i = 0; i < 400; i++) {
        const char *g = ra_odata_new_guid(pool);
        check_guid(g);
        ck_assert_ptr_null(apr_hash_get(all, g, APR_HASH_KEY_STRING));
        apr_hash_set(all, g, APR_HASH_KEY_STRING, g);
        seen[strchr("89ab", g[19]) - "89ab"] = 1;
    }
    ck_assert_int_eq(seen[0] + seen[1] + seen[2] + seen[3], 4);
}
END_TEST

/* The milliseconds a version 7 GUID's first 48 bits hold. */
static apr_int64_t guid_msec(const char *g)
{
    char hex[13];
    memcpy(hex, g, 8);
    memcpy(hex + 8, g + 9, 4);
    hex[12] = '\0';
    return (apr_int64_t)strtoll(hex, NULL, 16);
}

START_TEST(new_time_guid_sorts_by_time)
{
    apr_int64_t before = apr_time_as_msec(apr_time_now());
    const char *a = ra_odata_new_time_guid(pool);
    apr_sleep(apr_time_from_msec(3));
    const char *b = ra_odata_new_time_guid(pool);
    apr_int64_t after = apr_time_as_msec(apr_time_now());

    check_guid_version(a, '7');
    check_guid_version(b, '7');
    ck_assert_int_ge(guid_msec(a), before);
    ck_assert_int_le(guid_msec(b), after);
    ck_assert_int_lt(guid_msec(a), guid_msec(b));
    ck_assert_int_lt(strcmp(a, b), 0); /* as text, in the order made */
}
END_TEST

START_TEST(new_time_guids_within_a_millisecond_differ)
{
    apr_hash_t *all = apr_hash_make(pool);
    for (int i = 0; i < 400; i++) {
        const char *g = ra_odata_new_time_guid(pool);
        check_guid_version(g, '7');
        ck_assert_ptr_null(apr_hash_get(all, g, APR_HASH_KEY_STRING));
        apr_hash_set(all, g, APR_HASH_KEY_STRING, g);
    }
}
END_TEST

/* ---- ra_odata_client_request_id_ok ---- */

START_TEST(client_request_id)
{
    char longest[RA_ODATA_CLIENT_REQUEST_ID_MAX + 2];

    ck_assert_int_eq(ra_odata_client_request_id_ok("7b3a1c2e-1111-4222-8333-444455556666"), 1);
    ck_assert_int_eq(ra_odata_client_request_id_ok("a"), 1);
    ck_assert_int_eq(ra_odata_client_request_id_ok("!#$%&'()*+,-./:;<=>?@[]^_`{|}~"), 1);
    ck_assert_int_eq(ra_odata_client_request_id_ok(NULL), 0);
    ck_assert_int_eq(ra_odata_client_request_id_ok(""), 0);
    ck_assert_int_eq(ra_odata_client_request_id_ok("has space"), 0);
    ck_assert_int_eq(ra_odata_client_request_id_ok("tab\there"), 0);
    ck_assert_int_eq(ra_odata_client_request_id_ok("quote\"d"), 0);
    ck_assert_int_eq(ra_odata_client_request_id_ok("back\\slash"), 0);
    ck_assert_int_eq(ra_odata_client_request_id_ok("line\r\nbreak"), 0);
    ck_assert_int_eq(ra_odata_client_request_id_ok("del\x7f"), 0);
    ck_assert_int_eq(ra_odata_client_request_id_ok("caf\xc3\xa9"), 0);

    memset(longest, 'x', sizeof(longest));
    longest[RA_ODATA_CLIENT_REQUEST_ID_MAX] = '\0';
    ck_assert_int_eq(ra_odata_client_request_id_ok(longest), 1);
    longest[RA_ODATA_CLIENT_REQUEST_ID_MAX] = 'x';
    longest[RA_ODATA_CLIENT_REQUEST_ID_MAX + 1] = '\0';
    ck_assert_int_eq(ra_odata_client_request_id_ok(longest), 0);
}
END_TEST

/* ---- ra_odata_status_code and ra_odata_status_message ---- */

START_TEST(status_codes)
{
    static const struct {
        int status;
        const char *code;
    } cases[] = {
        { 400, "BadRequest" },
        { 401, "InvalidAuthenticationToken" },
        { 403, "Forbidden" },
        { 404, "ResourceNotFound" },
        { 405, "MethodNotAllowed" },
        { 406, "NotAcceptable" },
        { 408, "RequestTimeout" },
        { 409, "Conflict" },
        { 411, "LengthRequired" },
        { 412, "PreconditionFailed" },
        { 413, "RequestEntityTooLarge" },
        { 414, "RequestUriTooLong" },
        { 415, "UnsupportedMediaType" },
        { 417, "ExpectationFailed" },
        { 431, "RequestHeaderFieldsTooLarge" },
        { 500, "InternalServerError" },
        { 501, "NotImplemented" },
        { 503, "ServiceNotAvailable" },
        /* statuses without an entry: by class */
        { 418, "BadRequest" },
        { 499, "BadRequest" },
        { 502, "InternalServerError" },
        { 599, "InternalServerError" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_str_eq(ra_odata_status_code(cases[i].status), cases[i].code);
        ck_assert_ptr_nonnull(ra_odata_status_message(cases[i].status));
    }
    ck_assert_str_eq(ra_odata_status_message(412),
                     "The resource's ETag does not match If-Match.");
    ck_assert_str_eq(ra_odata_status_message(418), "The request could not be processed.");
    ck_assert_str_ne(ra_odata_status_message(413), ra_odata_status_message(414));
}
END_TEST

/* ---- ra_odata_error_body ---- */

START_TEST(error_body_structure)
{
    apr_size_t len = 0;
    /* 2016-12-31T23:58:36.667003Z */
    apr_time_t now = apr_time_from_sec(1483228716) + 667003;
    char *body = ra_odata_error_body(pool, "BadRequest", "Property 'x' is \"wrong\".",
                                     "11111111-2222-4333-8444-555555555555",
                                     "client-1", now, &len);
    json_error_t jerr;

    ck_assert_ptr_nonnull(body);
    ck_assert_uint_eq(len, strlen(body));
    json_t *got = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    ck_assert_msg(got != NULL, "error body is not JSON: %s (%s)", jerr.text, body);
    json_t *want = json_pack("{s:{s:s, s:s, s:{s:s, s:s, s:s}}}", "error",
                             "code", "BadRequest",
                             "message", "Property 'x' is \"wrong\".",
                             "innerError",
                             "date", "2016-12-31T23:58:36",
                             "request-id", "11111111-2222-4333-8444-555555555555",
                             "client-request-id", "client-1");
    int equal = json_equal(got, want);
    json_decref(got);
    json_decref(want);
    ck_assert_msg(equal, "unexpected error body %s", body);
    /* compact, in Graph's member order */
    ck_assert_str_eq(body, "{\"error\":{\"code\":\"BadRequest\",\"message\":"
                           "\"Property 'x' is \\\"wrong\\\".\",\"innerError\":"
                           "{\"date\":\"2016-12-31T23:58:36\",\"request-id\":"
                           "\"11111111-2222-4333-8444-555555555555\","
                           "\"client-request-id\":\"client-1\"}}}");
}
END_TEST

/* A message that quotes part of a request may hold half a character (the
 * first byte of 'Ä' in a $filter): it still goes out, each such byte as
 * U+FFFD (the streaming writer's rule), with its innerError. */
#define FFFD "\xef\xbf\xbd"

START_TEST(error_body_marks_bytes_that_are_not_utf8)
{
    static const struct {
        const char *message, *sent;
    } cases[] = {
        { "unexpected character '\xc3' at 15", "unexpected character '" FFFD "' at 15" },
        { "cut \xe2\x82", "cut " FFFD FFFD },
        { "\xff\xfe and \xc3\xa4 stays", FFFD FFFD " and \xc3\xa4 stays" },
        { "ends in \xf0\x9f\x98", "ends in " FFFD FFFD FFFD },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        apr_size_t len = 0;
        char *body = ra_odata_error_body(pool, "BadRequest", cases[i].message, "r", "cr",
                                         apr_time_from_sec(981173106), &len);
        json_t *got = json_loadb(body, len, 0, NULL);
        ck_assert_msg(got != NULL, "%s", body);
        json_t *error = json_object_get(got, "error");
        const char *message = json_string_value(json_object_get(error, "message"));
        int ok = message && !strcmp(message, cases[i].sent)
                 && json_object_get(error, "innerError") != NULL;
        json_decref(got);
        ck_assert_msg(ok, "case %zu: %s", i, body);
    }
}
END_TEST

START_TEST(error_body_date_is_utc_and_padded)
{
    apr_size_t len = 0;
    /* 2001-02-03T04:05:06Z */
    char *body = ra_odata_error_body(pool, "c", "m", "r", "cr",
                                     apr_time_from_sec(981173106), &len);
    json_t *got = json_loadb(body, len, 0, NULL);
    ck_assert_ptr_nonnull(got);
    const char *date = json_string_value(
        json_object_get(json_object_get(json_object_get(got, "error"), "innerError"), "date"));
    int ok = date && !strcmp(date, "2001-02-03T04:05:06");
    char *copy = apr_pstrdup(pool, date ? date : "(none)");
    json_decref(got);
    ck_assert_msg(ok, "date is %s", copy);
}
END_TEST

/* odata.metadata in Accept: the first application/json member naming one. */
START_TEST(accept_metadata)
{
    static const struct {
        const char *accept;
        int level;
    } cases[] = {
        { NULL, RA_JW_METADATA_MINIMAL },
        { "application/json", RA_JW_METADATA_MINIMAL },
        { "application/json;odata.metadata=none", RA_JW_METADATA_NONE },
        { "application/json; odata.metadata=\"FULL\"; charset=utf-8", RA_JW_METADATA_FULL },
        { "text/plain;odata.metadata=none, application/json", RA_JW_METADATA_MINIMAL },
        { "application/json;q=0.5, application/json;odata.metadata=none",
          RA_JW_METADATA_NONE },
        { "application/json;odata.metadata=partial", -1 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_msg(ra_odata_accept_metadata(pool, cases[i].accept) == cases[i].level, "%s",
                      cases[i].accept ? cases[i].accept : "(none)");
    }
    ck_assert_str_eq(ra_odata_content_type(RA_JW_METADATA_MINIMAL), RA_ODATA_CONTENT_TYPE);
    ck_assert_str_eq(ra_odata_content_type(RA_JW_METADATA_NONE),
                     "application/json;odata.metadata=none;odata.streaming=true;"
                     "IEEE754Compatible=false;charset=utf-8");
    ck_assert_str_eq(ra_odata_content_type(RA_JW_METADATA_FULL),
                     "application/json;odata.metadata=full;odata.streaming=true;"
                     "IEEE754Compatible=false;charset=utf-8");
}
END_TEST

Suite *odata_suite(void)
{
    Suite *s = suite_create("odata");
    TCase *tc = pool_tcase(s, "paths");
    tcase_add_test(tc, context_url);
    tcase_add_test(tc, collection_url);
    tcase_add_test(tc, entity_url);

    tc = pool_tcase(s, "negotiation");
    tcase_add_test(tc, accepts_json_yes);
    tcase_add_test(tc, accepts_json_no);
    tcase_add_test(tc, accepts_json_most_specific_decides);
    tcase_add_test(tc, accepts_text_plain);
    tcase_add_test(tc, accepts_json_leaves_input_alone);
    tcase_add_test(tc, is_json_yes);
    tcase_add_test(tc, is_json_no);

    tc = pool_tcase(s, "ids_and_errors");
    tcase_add_test(tc, new_guid_format);
    tcase_add_test(tc, new_guid_many);
    tcase_add_test(tc, new_time_guid_sorts_by_time);
    tcase_add_test(tc, new_time_guids_within_a_millisecond_differ);
    tcase_add_test(tc, client_request_id);
    tcase_add_test(tc, status_codes);
    tcase_add_test(tc, error_body_structure);
    tcase_add_test(tc, error_body_date_is_utc_and_padded);
    tcase_add_test(tc, error_body_marks_bytes_that_are_not_utf8);
    tcase_add_test(tc, accept_metadata);
    return s;
}
