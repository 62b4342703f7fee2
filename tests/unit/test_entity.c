/* ra_entity: request body validation per API version, the response body, the
 * DateTimeOffset and id rules, version names. */
#include <stdlib.h>
#include <string.h>

#include <apr_pools.h>
#include <apr_strings.h>
#include <jansson.h>

#include "ra_entity.h"
#include "suites.h"


/* The seeds' example request bodies (tests/integration/conftest.py). */
static json_t *seed_v1(void)
{
    json_t *body = json_pack("{s:s, s:s, s:s, s:s, s:s}",
                             "@odata.type", "#microsoft.graph.remoteAssistancePartner",
                             "displayName", "Display Name value",
                             "onboardingUrl", "https://example.com/onboardingUrl/",
                             "onboardingStatus", "onboarding",
                             "lastConnectionDateTime", "2016-12-31T23:58:36.6670033-08:00");
    ck_assert_ptr_nonnull(body);
    return body;
}

static json_t *seed_beta(void)
{
    json_t *body = seed_v1();
    json_object_set_new(body, "onboardingRequestExpiryDateTime",
                        json_string("2017-01-01T00:02:07.7573274-08:00"));
    return body;
}

/* Validates body (taking the reference) and returns 1 when it is valid;
 * *message gets a pool copy of the message. */
static int validate(ra_version_e version, json_t *body, ra_partner_t *partner,
                    const char **message)
{
    ra_partner_t scratch;
    const char *msg = "(unset)";
    ck_assert_ptr_nonnull(body);
    int ok = ra_entity_from_json(pool, version, body, partner ? partner : &scratch, &msg);
    json_decref(body);
    *message = msg;
    if (ok) {
        ck_assert_ptr_null(msg);
    }
    else {
        ck_assert_ptr_nonnull(msg);
    }
    return ok;
}

/* A body with just one property. */
static json_t *one(const char *name, json_t *value)
{
    json_t *body = json_object();
    json_object_set_new(body, name, value);
    return body;
}

static void assert_one_ok(ra_version_e version, const char *name, json_t *value)
{
    const char *message;
    char *shown = json_dumps(value, JSON_ENCODE_ANY);
    char *copy = apr_pstrdup(pool, shown);
    free(shown);
    ck_assert_msg(validate(version, one(name, value), NULL, &message),
                  "%s: %s rejected: %s", name, copy, message);
}

static void assert_one_rejected(ra_version_e version, const char *name, json_t *value)
{
    const char *message;
    char *shown = json_dumps(value, JSON_ENCODE_ANY);
    char *copy = apr_pstrdup(pool, shown);
    free(shown);
    ck_assert_msg(!validate(version, one(name, value), NULL, &message),
                  "%s: %s accepted", name, copy);
    ck_assert_msg(strstr(message, name) != NULL, "message \"%s\" does not name %s",
                  message, name);
}

static char *repeat(const char *unit, int n)
{
    size_t len = strlen(unit);
    char *s = apr_palloc(pool, len * (size_t)n + 1);
    for (int i = 0; i < n; i++) {
        memcpy(s + len * (size_t)i, unit, len);
    }
    s[len * (size_t)n] = '\0';
    return s;
}

/* ---- versions ---- */

START_TEST(version_parse_and_name)
{
    ra_version_e v = (ra_version_e)42;
    ck_assert_int_eq(ra_version_parse("v1.0", &v), 1);
    ck_assert_int_eq(v, RA_VERSION_V1);
    ck_assert_int_eq(ra_version_parse("beta", &v), 1);
    ck_assert_int_eq(v, RA_VERSION_BETA);
    v = (ra_version_e)42;
    ck_assert_int_eq(ra_version_parse("V1.0", &v), 0);
    ck_assert_int_eq(ra_version_parse("Beta", &v), 0);
    ck_assert_int_eq(ra_version_parse("v1", &v), 0);
    ck_assert_int_eq(ra_version_parse("", &v), 0);
    ck_assert_int_eq(ra_version_parse("v1.0 ", &v), 0);
    ck_assert_int_eq(v, 42);
    ck_assert_str_eq(ra_version_name(RA_VERSION_V1), "v1.0");
    ck_assert_str_eq(ra_version_name(RA_VERSION_BETA), "beta");
}
END_TEST

/* ---- the seed bodies ---- */

START_TEST(seed_v1_accepted)
{
    ra_partner_t p;
    const char *message;
    json_t *body = seed_v1();
    ck_assert_int_eq(ra_entity_from_json(pool, RA_VERSION_V1, body, &p, &message), 1);
    ck_assert_ptr_null(message);
    /* values are pool copies, alive after the body is gone */
    json_object_set_new(body, "displayName", json_string("changed"));
    json_decref(body);
    ck_assert_ptr_null(p.id);
    ck_assert_str_eq(p.display_name, "Display Name value");
    ck_assert_str_eq(p.onboarding_url, "https://example.com/onboardingUrl/");
    ck_assert_str_eq(p.onboarding_status, "onboarding");
    ck_assert_str_eq(p.last_connection_date_time, "2016-12-31T23:58:36.6670033-08:00");
    ck_assert_ptr_null(p.onboarding_request_expiry_date_time);
}
END_TEST

START_TEST(seed_beta_accepted)
{
    ra_partner_t p;
    const char *message;
    json_t *body = seed_beta();
    json_object_set_new(body, "id", json_string("partner-1"));
    ck_assert_int_eq(validate(RA_VERSION_BETA, body, &p, &message), 1);
    ck_assert_str_eq(p.id, "partner-1");
    ck_assert_str_eq(p.display_name, "Display Name value");
    ck_assert_str_eq(p.onboarding_url, "https://example.com/onboardingUrl/");
    ck_assert_str_eq(p.onboarding_status, "onboarding");
    ck_assert_str_eq(p.last_connection_date_time, "2016-12-31T23:58:36.6670033-08:00");
    ck_assert_str_eq(p.onboarding_request_expiry_date_time,
                     "2017-01-01T00:02:07.7573274-08:00");
}
END_TEST

START_TEST(partner_cleared_first)
{
    ra_partner_t p;
    const char *message;
    p.id = "stale";
    p.display_name = "stale";
    p.onboarding_url = "stale";
    p.onboarding_status = "stale";
    p.last_connection_date_time = "stale";
    p.onboarding_request_expiry_date_time = "stale";
    ck_assert_int_eq(validate(RA_VERSION_BETA, json_object(), &p, &message), 1);
    ck_assert_ptr_null(p.id);
    ck_assert_ptr_null(p.display_name);
    ck_assert_ptr_null(p.onboarding_url);
    ck_assert_ptr_null(p.onboarding_status);
    ck_assert_ptr_null(p.last_connection_date_time);
    ck_assert_ptr_null(p.onboarding_request_expiry_date_time);
}
END_TEST

START_TEST(nulls_stay_null)
{
    ra_partner_t p;
    const char *message;
    json_t *body = json_pack("{s:n, s:n, s:n, s:n, s:n}", "displayName", "onboardingUrl",
                             "onboardingStatus", "lastConnectionDateTime",
                             "onboardingRequestExpiryDateTime");
    ck_assert_int_eq(validate(RA_VERSION_BETA, body, &p, &message), 1);
    ck_assert_ptr_null(p.display_name);
    ck_assert_ptr_null(p.onboarding_url);
    ck_assert_ptr_null(p.onboarding_status);
    ck_assert_ptr_null(p.last_connection_date_time);
    ck_assert_ptr_null(p.onboarding_request_expiry_date_time);
}
END_TEST

START_TEST(expiry_rejected_in_v1)
{
    const char *message;
    ck_assert_int_eq(validate(RA_VERSION_V1, seed_beta(), NULL, &message), 0);
    ck_assert_str_eq(message, "The property 'onboardingRequestExpiryDateTime' does not "
                              "exist on type 'microsoft.graph.remoteAssistancePartner'. "
                              "Make sure to only use property names that are defined by "
                              "the type.");
}
END_TEST

START_TEST(unknown_property_named)
{
    const char *message;
    json_t *body = seed_v1();
    json_object_set_new(body, "partnerColour", json_string("blue"));
    ck_assert_int_eq(validate(RA_VERSION_BETA, body, NULL, &message), 0);
    ck_assert_ptr_nonnull(strstr(message, "'partnerColour'"));
    ck_assert_ptr_nonnull(strstr(message, "microsoft.graph.remoteAssistancePartner"));
    /* names are case-sensitive */
    ck_assert_int_eq(validate(RA_VERSION_V1, one("DisplayName", json_string("x")), NULL,
                              &message), 0);
    ck_assert_ptr_nonnull(strstr(message, "'DisplayName'"));
}
END_TEST

/* ---- annotations ---- */

START_TEST(property_annotation_accepted)
{
    ra_partner_t p;
    const char *message;
    json_t *body = seed_v1();
    json_object_set_new(body, "displayName@odata.type", json_string("#String"));
    ck_assert_int_eq(validate(RA_VERSION_V1, body, &p, &message), 1);
    ck_assert_str_eq(p.display_name, "Display Name value");
}
END_TEST

START_TEST(unknown_property_annotation_rejected)
{
    const char *message;
    ck_assert_int_eq(validate(RA_VERSION_V1, one("foo@odata.type", json_string("#String")),
                              NULL, &message), 0);
    ck_assert_ptr_nonnull(strstr(message, "'foo'"));
    ck_assert_ptr_null(strstr(message, "foo@"));
    /* a beta-only property's annotation in v1.0 */
    ck_assert_int_eq(validate(RA_VERSION_V1,
                              one("onboardingRequestExpiryDateTime@odata.type",
                                  json_string("#DateTimeOffset")), NULL, &message), 0);
    ck_assert_ptr_nonnull(strstr(message, "'onboardingRequestExpiryDateTime'"));
}
END_TEST

START_TEST(instance_annotations_ignored)
{
    ra_partner_t p;
    const char *message;
    json_t *body = seed_v1();
    json_object_set_new(body, "@odata.context", json_string("whatever"));
    json_object_set_new(body, "@odata.etag", json_integer(7));
    json_object_set_new(body, "@custom.note", json_null());
    ck_assert_int_eq(validate(RA_VERSION_V1, body, &p, &message), 1);
    ck_assert_str_eq(p.display_name, "Display Name value");
}
END_TEST

START_TEST(odata_type_checked)
{
    const char *message;
    ck_assert_int_eq(validate(RA_VERSION_V1, one("@odata.type",
                                                 json_string(RA_ENTITY_ODATA_TYPE)),
                              NULL, &message), 1);
    ck_assert_int_eq(validate(RA_VERSION_V1, one("@odata.type",
                                                 json_string("#microsoft.graph.user")),
                              NULL, &message), 0);
    ck_assert_ptr_nonnull(strstr(message, "@odata.type"));
    ck_assert_int_eq(validate(RA_VERSION_V1, one("@odata.type",
                                                 json_string(RA_ENTITY_TYPE)),
                              NULL, &message), 0);
    ck_assert_int_eq(validate(RA_VERSION_V1, one("@odata.type", json_integer(1)),
                              NULL, &message), 0);
    ck_assert_ptr_nonnull(strstr(message, "@odata.type"));
    ck_assert_int_eq(validate(RA_VERSION_V1, one("@odata.type", json_null()),
                              NULL, &message), 0);
}
END_TEST

/* ---- id ---- */

START_TEST(id_rules)
{
    ra_partner_t p;
    const char *message;
    const char *max = repeat("a", RA_ENTITY_ID_MAX);
    json_t *body = one("id", json_string(max));

    ck_assert_int_eq(validate(RA_VERSION_V1, body, &p, &message), 1);
    ck_assert_str_eq(p.id, max);
    assert_one_ok(RA_VERSION_V1, "id", json_string("Az09-._~"));
    assert_one_rejected(RA_VERSION_V1, "id", json_null());
    assert_one_rejected(RA_VERSION_V1, "id", json_integer(5));
    assert_one_rejected(RA_VERSION_V1, "id", json_string(""));
    assert_one_rejected(RA_VERSION_V1, "id", json_string(repeat("a", RA_ENTITY_ID_MAX + 1)));
    assert_one_rejected(RA_VERSION_V1, "id", json_string("has space"));
    assert_one_rejected(RA_VERSION_V1, "id", json_string("quo'te"));
    assert_one_rejected(RA_VERSION_V1, "id", json_string("quo\"te"));
    assert_one_rejected(RA_VERSION_V1, "id", json_string("a/b"));
    assert_one_rejected(RA_VERSION_V1, "id", json_string("caf\xc3\xa9"));

    ck_assert_int_eq(ra_entity_id_valid(max), 1);
    ck_assert_int_eq(ra_entity_id_valid("x"), 1);
    ck_assert_int_eq(ra_entity_id_valid(""), 0);
    ck_assert_int_eq(ra_entity_id_valid("a%20b"), 0);
    ck_assert_int_eq(ra_entity_id_valid("a(b)"), 0);
}
END_TEST

START_TEST(id_null_message)
{
    const char *message;
    ck_assert_int_eq(validate(RA_VERSION_V1, one("id", json_null()), NULL, &message), 0);
    ck_assert_str_eq(message, "Property 'id' cannot be null; omit it to have one generated.");
}
END_TEST

/* ---- strings ---- */

START_TEST(display_name_rules)
{
    ra_partner_t p;
    const char *message;
    const char *e256 = repeat("\xc3\xa9", 256); /* 256 characters, 512 bytes */

    assert_one_ok(RA_VERSION_V1, "displayName", json_null());
    assert_one_ok(RA_VERSION_V1, "displayName", json_string(""));
    assert_one_ok(RA_VERSION_V1, "displayName", json_string(repeat("a", 256)));
    ck_assert_int_eq(validate(RA_VERSION_V1, one("displayName", json_string(e256)), &p,
                              &message), 1);
    ck_assert_str_eq(p.display_name, e256);
    /* 4-byte characters count once too */
    assert_one_ok(RA_VERSION_V1, "displayName", json_string(repeat("\xf0\x9f\x98\x80", 256)));
    assert_one_rejected(RA_VERSION_V1, "displayName", json_string(repeat("a", 257)));
    assert_one_rejected(RA_VERSION_V1, "displayName", json_string(repeat("\xc3\xa9", 257)));
    assert_one_rejected(RA_VERSION_V1, "displayName", json_integer(3));
    assert_one_rejected(RA_VERSION_V1, "displayName", json_true());
    assert_one_rejected(RA_VERSION_V1, "displayName", json_pack("[s]", "a"));
    assert_one_rejected(RA_VERSION_V1, "displayName", json_object());
}
END_TEST

START_TEST(display_name_messages)
{
    const char *message;
    ck_assert_int_eq(validate(RA_VERSION_V1, one("displayName", json_integer(3)), NULL,
                              &message), 0);
    ck_assert_str_eq(message, "Property 'displayName' must be a string or null.");
    ck_assert_int_eq(validate(RA_VERSION_V1, one("displayName", json_string(repeat("a", 257))),
                              NULL, &message), 0);
    ck_assert_str_eq(message, "Property 'displayName' is longer than 256 characters.");
}
END_TEST

START_TEST(onboarding_url_rules)
{
    assert_one_ok(RA_VERSION_V1, "onboardingUrl", json_null());
    assert_one_ok(RA_VERSION_V1, "onboardingUrl", json_string(repeat("u", 2048)));
    assert_one_rejected(RA_VERSION_V1, "onboardingUrl", json_string(repeat("u", 2049)));
    assert_one_rejected(RA_VERSION_V1, "onboardingUrl", json_real(1.5));
}
END_TEST

START_TEST(onboarding_status_rules)
{
    static const char *const members[] = { "notOnboarded", "onboarding", "onboarded" };
    ra_partner_t p;
    const char *message;
    for (size_t i = 0; i < 3; i++) {
        ck_assert_int_eq(validate(RA_VERSION_V1, one("onboardingStatus",
                                                     json_string(members[i])), &p,
                                  &message), 1);
        ck_assert_str_eq(p.onboarding_status, members[i]);
    }
    assert_one_ok(RA_VERSION_V1, "onboardingStatus", json_null());
    assert_one_rejected(RA_VERSION_V1, "onboardingStatus", json_string("Onboarding"));
    assert_one_rejected(RA_VERSION_V1, "onboardingStatus", json_string("ONBOARDED"));
    assert_one_rejected(RA_VERSION_V1, "onboardingStatus", json_string("onboarded "));
    assert_one_rejected(RA_VERSION_V1, "onboardingStatus", json_string(""));
    assert_one_rejected(RA_VERSION_V1, "onboardingStatus", json_string("unknownFutureValue"));
    assert_one_rejected(RA_VERSION_V1, "onboardingStatus", json_integer(1));
}
END_TEST

/* ---- date-times ---- */

static const char *const valid_datetimes[] = {
    "2016-12-31T23:58:36Z",
    "2016-12-31T23:58:36.6670033-08:00",
    "2016-12-31T23:58:36+14:00",
    "2016-12-31T23:58:36-12:00",
    "2016-12-31T23:58:36-14:00",
    "2016-12-31T23:58:36+00:00",
    "2016-12-31T23:58Z",
    "2016-12-31T23:58+05:30",
    "2016-12-31T23:58:36.1Z",
    "2016-12-31T23:58:36.1234567Z",
    "2016-02-29T00:00:00Z",
    "2000-02-29T12:00:00Z",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59.9999999+13:59",
};

static const char *const invalid_datetimes[] = {
    "2016-12-31T23:58:36.12345678Z",
    "2016-12-31T23:58:36.Z",
    "2016-12-31T23:58:36",
    "2016-12-31T23:58",
    "2016-12-31T23:58:36+15:00",
    "2016-12-31T23:58:36+14:30",
    "2016-12-31T23:58:36+14:01",
    "2016-12-31T23:58:36+05:60",
    "2016-12-31T23:58:36+0500",
    "2016-12-31T23:58:36+5:00",
    "2017-02-29T00:00:00Z",
    "1900-02-29T00:00:00Z",
    "2016-04-31T00:00:00Z",
    "2016-13-01T00:00:00Z",
    "2016-00-10T00:00:00Z",
    "2016-01-00T00:00:00Z",
    "0000-01-01T00:00:00Z",
    "2016-12-31T24:00:00Z",
    "2016-12-31T23:60:00Z",
    "2016-12-31T23:59:60Z",
    "2016-12-31t23:58:36Z",
    "2016-12-31 23:58:36Z",
    "2016-12-31T23:58:36z",
    "2016-12-31T23:58:36Zjunk",
    "2016-12-31T23:58:36-08:00 ",
    " 2016-12-31T23:58:36Z",
    "2016-12-31T23:58.5Z",
    "2016-12-31T23:58:3Z",
    "2016-1-31T23:58:36Z",
    "16-12-31T23:58:36Z",
    "2016-12-31",
    "2016-12-31T",
    "",
};

START_TEST(datetime_valid)
{
    for (size_t i = 0; i < sizeof(valid_datetimes) / sizeof(valid_datetimes[0]); i++) {
        ck_assert_msg(ra_entity_datetime_valid(valid_datetimes[i]) == 1,
                      "%s rejected", valid_datetimes[i]);
    }
}
END_TEST

START_TEST(datetime_invalid)
{
    for (size_t i = 0; i < sizeof(invalid_datetimes) / sizeof(invalid_datetimes[0]); i++) {
        ck_assert_msg(ra_entity_datetime_valid(invalid_datetimes[i]) == 0,
                      "%s accepted", invalid_datetimes[i]);
    }
}
END_TEST

START_TEST(datetime_properties)
{
    ra_partner_t p;
    const char *message;
    for (size_t i = 0; i < sizeof(valid_datetimes) / sizeof(valid_datetimes[0]); i++) {
        ck_assert_int_eq(validate(RA_VERSION_BETA,
                                  one("onboardingRequestExpiryDateTime",
                                      json_string(valid_datetimes[i])), &p, &message), 1);
        ck_assert_str_eq(p.onboarding_request_expiry_date_time, valid_datetimes[i]);
        assert_one_ok(RA_VERSION_V1, "lastConnectionDateTime", json_string(valid_datetimes[i]));
    }
    for (size_t i = 0; i < sizeof(invalid_datetimes) / sizeof(invalid_datetimes[0]); i++) {
        assert_one_rejected(RA_VERSION_V1, "lastConnectionDateTime",
                            json_string(invalid_datetimes[i]));
        assert_one_rejected(RA_VERSION_BETA, "onboardingRequestExpiryDateTime",
                            json_string(invalid_datetimes[i]));
    }
    assert_one_ok(RA_VERSION_V1, "lastConnectionDateTime", json_null());
    assert_one_rejected(RA_VERSION_V1, "lastConnectionDateTime", json_integer(1483228716));
    ck_assert_int_eq(validate(RA_VERSION_V1, one("lastConnectionDateTime",
                                                 json_string("2016-12-31")), NULL,
                              &message), 0);
    ck_assert_str_eq(message, "Property 'lastConnectionDateTime' has an invalid value; "
                              "expected an ISO 8601 DateTimeOffset with offset, such as "
                              "2016-12-31T23:58:36.6670033-08:00.");
}
END_TEST

/* ---- ra_entity_to_json ---- */

static void assert_keys(json_t *out, const char *const *keys, size_t n)
{
    size_t i = 0;
    for (void *it = json_object_iter(out); it; it = json_object_iter_next(out, it), i++) {
        ck_assert_msg(i < n, "extra member %s", json_object_iter_key(it));
        ck_assert_str_eq(json_object_iter_key(it), keys[i]);
    }
    ck_assert_uint_eq(i, n);
}

START_TEST(to_json_v1)
{
    static const char *const keys[] = { "@odata.context", "@odata.type", "id",
                                        "displayName", "onboardingUrl",
                                        "onboardingStatus", "lastConnectionDateTime" };
    ra_partner_t p = { "id-1", NULL, "https://u/", "onboarded", NULL,
                       "2017-01-01T00:00:00Z" };
    json_t *out = ra_entity_to_json(&p, RA_VERSION_V1, "ctx-url");
    ck_assert_ptr_nonnull(out);
    json_t *want = json_pack("{s:s, s:s, s:s, s:n, s:s, s:s, s:n}",
                             "@odata.context", "ctx-url",
                             "@odata.type", "#microsoft.graph.remoteAssistancePartner",
                             "id", "id-1", "displayName", "onboardingUrl", "https://u/",
                             "onboardingStatus", "onboarded", "lastConnectionDateTime");
    int equal = json_equal(out, want);
    char *text = json_dumps(out, JSON_COMPACT);
    char *copy = apr_pstrdup(pool, text);
    free(text);
    json_decref(want);
    if (equal) {
        assert_keys(out, keys, sizeof(keys) / sizeof(keys[0]));
    }
    json_decref(out);
    ck_assert_msg(equal, "unexpected entity %s", copy);
    ck_assert_str_eq(copy, "{\"@odata.context\":\"ctx-url\",\"@odata.type\":"
                           "\"#microsoft.graph.remoteAssistancePartner\",\"id\":\"id-1\","
                           "\"displayName\":null,\"onboardingUrl\":\"https://u/\","
                           "\"onboardingStatus\":\"onboarded\","
                           "\"lastConnectionDateTime\":null}");
}
END_TEST

START_TEST(to_json_beta)
{
    static const char *const keys[] = { "@odata.context", "@odata.type", "id",
                                        "displayName", "onboardingUrl",
                                        "onboardingStatus", "lastConnectionDateTime",
                                        "onboardingRequestExpiryDateTime" };
    ra_partner_t empty = { "id-2", NULL, NULL, NULL, NULL, NULL };
    ra_partner_t full = { "id-3", "name", "https://u/", "notOnboarded",
                          "2016-12-31T23:58:36Z", "2017-01-01T00:02:07.7573274-08:00" };
    json_t *out = ra_entity_to_json(&empty, RA_VERSION_BETA, "c");
    char *text = json_dumps(out, JSON_COMPACT);
    char *copy = apr_pstrdup(pool, text);
    free(text);
    assert_keys(out, keys, sizeof(keys) / sizeof(keys[0]));
    json_decref(out);
    ck_assert_str_eq(copy, "{\"@odata.context\":\"c\",\"@odata.type\":"
                           "\"#microsoft.graph.remoteAssistancePartner\",\"id\":\"id-2\","
                           "\"displayName\":null,\"onboardingUrl\":null,"
                           "\"onboardingStatus\":null,\"lastConnectionDateTime\":null,"
                           "\"onboardingRequestExpiryDateTime\":null}");

    out = ra_entity_to_json(&full, RA_VERSION_BETA, "c");
    assert_keys(out, keys, sizeof(keys) / sizeof(keys[0]));
    ck_assert_str_eq(json_string_value(json_object_get(out, "displayName")), "name");
    ck_assert_str_eq(json_string_value(json_object_get(out, "onboardingStatus")),
                     "notOnboarded");
    ck_assert_str_eq(json_string_value(json_object_get(out, "lastConnectionDateTime")),
                     "2016-12-31T23:58:36Z");
    ck_assert_str_eq(json_string_value(json_object_get(out, "onboardingRequestExpiryDateTime")),
                     "2017-01-01T00:02:07.7573274-08:00");
    json_decref(out);
}
END_TEST

START_TEST(round_trip)
{
    ra_partner_t p, q;
    const char *message;
    json_t *body = seed_beta();
    json_object_set_new(body, "id", json_string("rt"));
    ck_assert_int_eq(validate(RA_VERSION_BETA, body, &p, &message), 1);
    json_t *out = ra_entity_to_json(&p, RA_VERSION_BETA, "ctx");
    /* the response, with its context annotation, is itself a valid body */
    ck_assert_int_eq(ra_entity_from_json(pool, RA_VERSION_BETA, out, &q, &message), 1);
    json_decref(out);
    ck_assert_str_eq(q.id, "rt");
    ck_assert_str_eq(q.display_name, p.display_name);
    ck_assert_str_eq(q.onboarding_request_expiry_date_time,
                     p.onboarding_request_expiry_date_time);
}
END_TEST

Suite *entity_suite(void)
{
    Suite *s = suite_create("entity");
    TCase *tc = tcase_create("from_json");
    tcase_add_checked_fixture(tc, pool_setup, pool_teardown);
    tcase_add_test(tc, version_parse_and_name);
    tcase_add_test(tc, seed_v1_accepted);
    tcase_add_test(tc, seed_beta_accepted);
    tcase_add_test(tc, partner_cleared_first);
    tcase_add_test(tc, nulls_stay_null);
    tcase_add_test(tc, expiry_rejected_in_v1);
    tcase_add_test(tc, unknown_property_named);
    tcase_add_test(tc, property_annotation_accepted);
    tcase_add_test(tc, unknown_property_annotation_rejected);
    tcase_add_test(tc, instance_annotations_ignored);
    tcase_add_test(tc, odata_type_checked);
    tcase_add_test(tc, id_rules);
    tcase_add_test(tc, id_null_message);
    tcase_add_test(tc, display_name_rules);
    tcase_add_test(tc, display_name_messages);
    tcase_add_test(tc, onboarding_url_rules);
    tcase_add_test(tc, onboarding_status_rules);
    suite_add_tcase(s, tc);

    tc = tcase_create("datetime");
    tcase_add_checked_fixture(tc, pool_setup, pool_teardown);
    tcase_add_test(tc, datetime_valid);
    tcase_add_test(tc, datetime_invalid);
    tcase_add_test(tc, datetime_properties);
    suite_add_tcase(s, tc);

    tc = tcase_create("to_json");
    tcase_add_checked_fixture(tc, pool_setup, pool_teardown);
    tcase_add_test(tc, to_json_v1);
    tcase_add_test(tc, to_json_beta);
    tcase_add_test(tc, round_trip);
    suite_add_tcase(s, tc);
    return s;
}
