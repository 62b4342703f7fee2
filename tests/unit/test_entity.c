/* ra_entity: request body validation per API version and decode mode, the
 * presence mask and ra_entity_apply, nullability and defaults, the response
 * body, DateTimeOffsets and their ticks, ids, version names and ETags. */
#include <stdlib.h>
#include <string.h>

#include <apr_pools.h>
#include <apr_strings.h>
#include <jansson.h>

#include "ra_entity.h"
#include "suites.h"

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

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

/* The beta seed with an id, decoded for a create. */
static void seed_partner(const char *id, ra_partner_t *partner)
{
    const char *message;
    json_t *body = seed_beta();
    json_object_set_new(body, "id", json_string(id));
    ck_assert_int_eq(ra_entity_decode(pool, RA_VERSION_BETA, RA_DECODE_CREATE, body, partner,
                                      &message), 1);
    json_decref(body);
}

/* Decodes body (taking the reference) in mode and returns 1 when it is
 * valid; *message gets the message, NULL exactly when valid. */
static int decode(ra_version_e version, ra_decode_e mode, json_t *body,
                  ra_partner_t *partner, const char **message)
{
    ra_partner_t scratch;
    const char *msg = "(unset)";
    ck_assert_ptr_nonnull(body);
    int ok = ra_entity_decode(pool, version, mode, body, partner ? partner : &scratch, &msg);
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

/* A create's body. */
static int validate(ra_version_e version, json_t *body, ra_partner_t *partner,
                    const char **message)
{
    return decode(version, RA_DECODE_CREATE, body, partner, message);
}

/* A body with just one property. */
static json_t *one(const char *name, json_t *value)
{
    json_t *body = json_object();
    json_object_set_new(body, name, value);
    return body;
}

static const char *shown(json_t *value)
{
    char *text = json_dumps(value, JSON_ENCODE_ANY);
    char *copy = apr_pstrdup(pool, text);
    free(text);
    return copy;
}

static void assert_one_ok(ra_version_e version, const char *name, json_t *value)
{
    const char *message, *copy = shown(value);
    ck_assert_msg(validate(version, one(name, value), NULL, &message),
                  "%s: %s rejected: %s", name, copy, message);
}

/* Rejected on create and on update alike, with a message naming the property. */
static void assert_one_rejected(ra_version_e version, const char *name, json_t *value)
{
    static const ra_decode_e modes[] = { RA_DECODE_CREATE, RA_DECODE_UPDATE };
    const char *message, *copy = shown(value);
    for (size_t i = 0; i < COUNT_OF(modes); i++) {
        json_incref(value);
        ck_assert_msg(!decode(version, modes[i], one(name, value), NULL, &message),
                      "%s: %s accepted (mode %d)", name, copy, (int)modes[i]);
        ck_assert_msg(strstr(message, name) != NULL, "message \"%s\" does not name %s",
                      message, name);
    }
    json_decref(value);
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

/* ---- versions and the property table ---- */

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

/* Names, kinds and nullability as Graph's CSDL has them. */
START_TEST(property_table)
{
    static const struct {
        ra_prop_e prop;
        const char *name;
        ra_prop_kind_e kind;
        int nullable, in_v1;
    } props[] = {
        { RA_PROP_ID, "id", RA_KIND_ID, 0, 1 },
        { RA_PROP_DISPLAY_NAME, "displayName", RA_KIND_STRING, 1, 1 },
        { RA_PROP_ONBOARDING_URL, "onboardingUrl", RA_KIND_STRING, 1, 1 },
        { RA_PROP_ONBOARDING_STATUS, "onboardingStatus", RA_KIND_STATUS, 0, 1 },
        { RA_PROP_LAST_CONNECTION, "lastConnectionDateTime", RA_KIND_DATETIME, 0, 1 },
        { RA_PROP_EXPIRY, "onboardingRequestExpiryDateTime", RA_KIND_DATETIME, 0, 0 },
    };
    ck_assert_uint_eq(COUNT_OF(props), RA_PROP_COUNT);
    for (size_t i = 0; i < COUNT_OF(props); i++) {
        const char *name = props[i].name;
        ck_assert_str_eq(ra_prop_name(props[i].prop), name);
        ck_assert_int_eq(ra_prop_kind(props[i].prop), props[i].kind);
        ck_assert_msg(ra_prop_nullable(props[i].prop) == props[i].nullable, "%s nullable", name);
        ck_assert_int_eq(ra_prop_in_version(props[i].prop, RA_VERSION_V1), props[i].in_v1);
        ck_assert_int_eq(ra_prop_in_version(props[i].prop, RA_VERSION_BETA), 1);
        ck_assert_int_eq(ra_prop_find(RA_VERSION_BETA, name, strlen(name)), props[i].prop);
        ck_assert_int_eq(ra_prop_find(RA_VERSION_V1, name, strlen(name)),
                         props[i].in_v1 ? (int)props[i].prop : -1);
    }
    /* the length bounds the name: a prefix of a longer text is found */
    ck_assert_int_eq(ra_prop_find(RA_VERSION_V1, "displayName eq 'x'", 11),
                     RA_PROP_DISPLAY_NAME);
    ck_assert_int_eq(ra_prop_find(RA_VERSION_V1, "displayName", 7), -1);
    ck_assert_int_eq(ra_prop_find(RA_VERSION_V1, "DisplayName", 11), -1);
    ck_assert_int_eq(ra_prop_find(RA_VERSION_V1, "", 0), -1);
}
END_TEST

/* ---- the seed bodies ---- */

START_TEST(seed_v1_accepted)
{
    ra_partner_t p;
    const char *message;
    json_t *body = seed_v1();
    ck_assert_int_eq(ra_entity_decode(pool, RA_VERSION_V1, RA_DECODE_CREATE, body, &p,
                                      &message), 1);
    ck_assert_ptr_null(message);
    /* values are pool copies, alive after the body is gone */
    json_object_set_new(body, "displayName", json_string("changed"));
    json_decref(body);
    ck_assert_ptr_null(p.values[RA_PROP_ID]);
    ck_assert_str_eq(p.values[RA_PROP_DISPLAY_NAME], "Display Name value");
    ck_assert_str_eq(p.values[RA_PROP_ONBOARDING_URL], "https://example.com/onboardingUrl/");
    ck_assert_str_eq(p.values[RA_PROP_ONBOARDING_STATUS], "onboarding");
    ck_assert_str_eq(p.values[RA_PROP_LAST_CONNECTION], "2016-12-31T23:58:36.6670033-08:00");
    /* not a v1.0 property, but stored: it takes its default */
    ck_assert_str_eq(p.values[RA_PROP_EXPIRY], RA_ENTITY_DATETIME_UNSET);
    ck_assert_uint_eq(p.present, RA_PROP_BIT(RA_PROP_DISPLAY_NAME)
                                 | RA_PROP_BIT(RA_PROP_ONBOARDING_URL)
                                 | RA_PROP_BIT(RA_PROP_ONBOARDING_STATUS)
                                 | RA_PROP_BIT(RA_PROP_LAST_CONNECTION));
    ck_assert_ptr_null(p.etag);
}
END_TEST

START_TEST(seed_beta_accepted)
{
    ra_partner_t p;
    seed_partner("partner-1", &p);
    ck_assert_str_eq(p.values[RA_PROP_ID], "partner-1");
    ck_assert_str_eq(p.values[RA_PROP_DISPLAY_NAME], "Display Name value");
    ck_assert_str_eq(p.values[RA_PROP_ONBOARDING_URL], "https://example.com/onboardingUrl/");
    ck_assert_str_eq(p.values[RA_PROP_ONBOARDING_STATUS], "onboarding");
    ck_assert_str_eq(p.values[RA_PROP_LAST_CONNECTION], "2016-12-31T23:58:36.6670033-08:00");
    ck_assert_str_eq(p.values[RA_PROP_EXPIRY], "2017-01-01T00:02:07.7573274-08:00");
    ck_assert_uint_eq(p.present, (1u << RA_PROP_COUNT) - 1);
}
END_TEST

/* A create without properties: nullable ones null, the others their
 * defaults, the id left for the caller; nothing stale survives. */
START_TEST(create_defaults)
{
    ra_partner_t p;
    const char *message;
    for (int i = 0; i < RA_PROP_COUNT; i++) {
        p.values[i] = "stale";
    }
    p.etag = "stale";
    p.present = ~0u;
    ck_assert_int_eq(validate(RA_VERSION_BETA, json_object(), &p, &message), 1);
    ck_assert_ptr_null(p.values[RA_PROP_ID]);
    ck_assert_ptr_null(p.values[RA_PROP_DISPLAY_NAME]);
    ck_assert_ptr_null(p.values[RA_PROP_ONBOARDING_URL]);
    ck_assert_str_eq(p.values[RA_PROP_ONBOARDING_STATUS], "notOnboarded");
    ck_assert_str_eq(p.values[RA_PROP_LAST_CONNECTION], "0001-01-01T00:00:00Z");
    ck_assert_str_eq(p.values[RA_PROP_EXPIRY], "0001-01-01T00:00:00Z");
    ck_assert_ptr_null(p.etag);
    ck_assert_uint_eq(p.present, 0);
}
END_TEST

/* An update leaves absent properties NULL and unmarked: only present ones
 * change. */
START_TEST(update_marks_present_only)
{
    ra_partner_t p;
    const char *message;
    for (int i = 0; i < RA_PROP_COUNT; i++) {
        p.values[i] = "stale";
    }
    p.present = ~0u;
    json_t *body = json_pack("{s:s, s:n, s:s, s:s}", "displayName", "new name",
                             "onboardingUrl", "@odata.type", RA_ENTITY_ODATA_TYPE,
                             "displayName@odata.type", "#String");
    ck_assert_int_eq(decode(RA_VERSION_BETA, RA_DECODE_UPDATE, body, &p, &message), 1);
    /* annotations mark nothing */
    ck_assert_uint_eq(p.present, RA_PROP_BIT(RA_PROP_DISPLAY_NAME)
                                 | RA_PROP_BIT(RA_PROP_ONBOARDING_URL));
    ck_assert_str_eq(p.values[RA_PROP_DISPLAY_NAME], "new name");
    ck_assert_ptr_null(p.values[RA_PROP_ONBOARDING_URL]);
    for (int i = 0; i < RA_PROP_COUNT; i++) {
        if (i != RA_PROP_DISPLAY_NAME) {
            ck_assert_msg(p.values[i] == NULL, "%s: %s", ra_prop_name((ra_prop_e)i),
                          p.values[i]);
        }
    }
    ck_assert_int_eq(decode(RA_VERSION_BETA, RA_DECODE_UPDATE, json_object(), &p, &message), 1);
    ck_assert_uint_eq(p.present, 0);
    ck_assert_ptr_null(p.values[RA_PROP_ONBOARDING_STATUS]);
    ck_assert_ptr_null(p.values[RA_PROP_LAST_CONNECTION]);
}
END_TEST

/* A create marks exactly what the body carried, null included, so that the
 * defaults do not count as sent. */
START_TEST(create_marks_present)
{
    ra_partner_t p;
    const char *message;
    json_t *body = json_pack("{s:s, s:n, s:s}", "id", "x-1", "displayName",
                             "lastConnectionDateTime", "2016-12-31T23:58Z");
    ck_assert_int_eq(validate(RA_VERSION_V1, body, &p, &message), 1);
    ck_assert_uint_eq(p.present, RA_PROP_BIT(RA_PROP_ID) | RA_PROP_BIT(RA_PROP_DISPLAY_NAME)
                                 | RA_PROP_BIT(RA_PROP_LAST_CONNECTION));
    ck_assert_str_eq(p.values[RA_PROP_ID], "x-1");
    ck_assert_ptr_null(p.values[RA_PROP_DISPLAY_NAME]);
    ck_assert_str_eq(p.values[RA_PROP_LAST_CONNECTION], "2016-12-31T23:58Z");
    ck_assert_str_eq(p.values[RA_PROP_ONBOARDING_STATUS], RA_ENTITY_STATUS_DEFAULT);
}
END_TEST

/* Graph's CSDL: displayName and onboardingUrl may be null; the status and
 * the DateTimeOffsets may not (a create without them gets defaults). */
START_TEST(nullability)
{
    static const struct {
        ra_version_e version;
        const char *name;
        int nullable;
    } cases[] = {
        { RA_VERSION_V1, "displayName", 1 },
        { RA_VERSION_V1, "onboardingUrl", 1 },
        { RA_VERSION_V1, "onboardingStatus", 0 },
        { RA_VERSION_V1, "lastConnectionDateTime", 0 },
        { RA_VERSION_BETA, "onboardingRequestExpiryDateTime", 0 },
    };
    static const ra_decode_e modes[] = { RA_DECODE_CREATE, RA_DECODE_UPDATE };
    for (size_t i = 0; i < COUNT_OF(cases); i++) {
        for (size_t m = 0; m < COUNT_OF(modes); m++) {
            ra_partner_t p;
            const char *message;
            int ok = decode(cases[i].version, modes[m], one(cases[i].name, json_null()), &p,
                            &message);
            ck_assert_msg(ok == cases[i].nullable, "%s: null %s", cases[i].name,
                          ok ? "accepted" : "rejected");
            if (ok) {
                int prop = ra_prop_find(cases[i].version, cases[i].name,
                                        strlen(cases[i].name));
                ck_assert_ptr_null(p.values[prop]);
                ck_assert_uint_eq(p.present, RA_PROP_BIT(prop));
            }
            else {
                ck_assert_str_eq(message, apr_psprintf(pool, "Property '%s' cannot be null; "
                                                       "omit it to keep its current or "
                                                       "default value.", cases[i].name));
            }
        }
    }
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
    ck_assert_int_eq(decode(RA_VERSION_V1, RA_DECODE_UPDATE,
                            one("onboardingRequestExpiryDateTime",
                                json_string("2017-01-01T00:00:00Z")), NULL, &message), 0);
    ck_assert_ptr_nonnull(strstr(message, "'onboardingRequestExpiryDateTime'"));
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
    ck_assert_str_eq(p.values[RA_PROP_DISPLAY_NAME], "Display Name value");
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
    ck_assert_str_eq(p.values[RA_PROP_DISPLAY_NAME], "Display Name value");
    /* an ETag in the body is not the entity's */
    ck_assert_ptr_null(p.etag);
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
    ck_assert_str_eq(p.values[RA_PROP_ID], max);
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
    /* dot-segments: httpd removes them from a path, so they cannot be addressed */
    assert_one_rejected(RA_VERSION_V1, "id", json_string("."));
    assert_one_rejected(RA_VERSION_V1, "id", json_string(".."));
    assert_one_ok(RA_VERSION_V1, "id", json_string("..."));
    assert_one_ok(RA_VERSION_V1, "id", json_string(".a"));
    assert_one_ok(RA_VERSION_V1, "id", json_string("a.."));

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
    ck_assert_str_eq(p.values[RA_PROP_DISPLAY_NAME], e256);
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

START_TEST(type_messages)
{
    static const struct {
        const char *name;
        json_t *(*value)(void);
        const char *message;
    } cases[] = {
        { "displayName", json_true, "Property 'displayName' must be a string or null." },
        { "onboardingUrl", json_object, "Property 'onboardingUrl' must be a string or null." },
        /* a non-nullable property does not offer null */
        { "onboardingStatus", json_true, "Property 'onboardingStatus' must be a string." },
        { "lastConnectionDateTime", json_array,
          "Property 'lastConnectionDateTime' must be a string." },
        { "id", json_false, "Property 'id' must be a string." },
    };
    const char *message;
    for (size_t i = 0; i < COUNT_OF(cases); i++) {
        ck_assert_int_eq(validate(RA_VERSION_V1, one(cases[i].name, cases[i].value()), NULL,
                                  &message), 0);
        ck_assert_str_eq(message, cases[i].message);
    }
    ck_assert_int_eq(validate(RA_VERSION_V1, one("displayName", json_string(repeat("a", 257))),
                              NULL, &message), 0);
    ck_assert_str_eq(message, "Property 'displayName' is longer than 256 characters.");
    ck_assert_int_eq(validate(RA_VERSION_V1, one("onboardingUrl",
                                                 json_string(repeat("u", 2049))),
                              NULL, &message), 0);
    ck_assert_str_eq(message, "Property 'onboardingUrl' is longer than 2048 characters.");
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
    for (size_t i = 0; i < COUNT_OF(members); i++) {
        ck_assert_int_eq(validate(RA_VERSION_V1, one("onboardingStatus",
                                                     json_string(members[i])), &p,
                                  &message), 1);
        ck_assert_str_eq(p.values[RA_PROP_ONBOARDING_STATUS], members[i]);
        ck_assert_int_eq(ra_entity_status_valid(members[i]), 1);
    }
    assert_one_rejected(RA_VERSION_V1, "onboardingStatus", json_null());
    assert_one_rejected(RA_VERSION_V1, "onboardingStatus", json_string("Onboarding"));
    assert_one_rejected(RA_VERSION_V1, "onboardingStatus", json_string("ONBOARDED"));
    assert_one_rejected(RA_VERSION_V1, "onboardingStatus", json_string("onboarded "));
    assert_one_rejected(RA_VERSION_V1, "onboardingStatus", json_string(""));
    assert_one_rejected(RA_VERSION_V1, "onboardingStatus", json_string("unknownFutureValue"));
    assert_one_rejected(RA_VERSION_V1, "onboardingStatus", json_integer(1));
    ck_assert_int_eq(ra_entity_status_valid("Onboarded"), 0);
    ck_assert_int_eq(ra_entity_status_valid(""), 0);
    ck_assert_int_eq(validate(RA_VERSION_V1, one("onboardingStatus", json_string("x")), NULL,
                              &message), 0);
    ck_assert_str_eq(message, "Property 'onboardingStatus' has an invalid value; expected one "
                              "of notOnboarded, onboarding, onboarded.");
}
END_TEST

/* ---- ra_entity_apply ---- */

START_TEST(apply_copies_present_only)
{
    ra_partner_t target = { .values = { "id-1", "old name", "https://old/", "onboarding",
                                        "2016-12-31T23:58:36Z", "2017-01-01T00:00:00Z" },
                            .etag = "etag-1" };
    ra_partner_t patch = { .values = { "id-2", "new name", NULL, "onboarded",
                                       "2020-01-01T00:00:00Z", NULL } };
    /* the status and the date-time in patch are not marked: they stay */
    patch.present = RA_PROP_BIT(RA_PROP_ID) | RA_PROP_BIT(RA_PROP_DISPLAY_NAME)
                    | RA_PROP_BIT(RA_PROP_ONBOARDING_URL);
    ra_entity_apply(&target, &patch);
    ck_assert_str_eq(target.values[RA_PROP_ID], "id-1");           /* never the id */
    ck_assert_str_eq(target.values[RA_PROP_DISPLAY_NAME], "new name");
    ck_assert_ptr_null(target.values[RA_PROP_ONBOARDING_URL]);     /* set to null */
    ck_assert_str_eq(target.values[RA_PROP_ONBOARDING_STATUS], "onboarding");
    ck_assert_str_eq(target.values[RA_PROP_LAST_CONNECTION], "2016-12-31T23:58:36Z");
    ck_assert_str_eq(target.values[RA_PROP_EXPIRY], "2017-01-01T00:00:00Z");
    ck_assert_str_eq(target.etag, "etag-1");

    patch.present = RA_PROP_BIT(RA_PROP_ONBOARDING_STATUS) | RA_PROP_BIT(RA_PROP_LAST_CONNECTION);
    ra_entity_apply(&target, &patch);
    ck_assert_str_eq(target.values[RA_PROP_ONBOARDING_STATUS], "onboarded");
    ck_assert_str_eq(target.values[RA_PROP_LAST_CONNECTION], "2020-01-01T00:00:00Z");
    ck_assert_str_eq(target.values[RA_PROP_DISPLAY_NAME], "new name");
}
END_TEST

/* A decoded update applied to a stored partner: the PATCH semantics. */
START_TEST(apply_decoded_update)
{
    ra_partner_t stored, patch;
    const char *message;
    seed_partner("stored", &stored);
    ck_assert_int_eq(decode(RA_VERSION_BETA, RA_DECODE_UPDATE,
                            json_pack("{s:n, s:s}", "displayName", "onboardingStatus",
                                      "onboarded"), &patch, &message), 1);
    ra_entity_apply(&stored, &patch);
    ck_assert_str_eq(stored.values[RA_PROP_ID], "stored");
    ck_assert_ptr_null(stored.values[RA_PROP_DISPLAY_NAME]);
    ck_assert_str_eq(stored.values[RA_PROP_ONBOARDING_URL], "https://example.com/onboardingUrl/");
    ck_assert_str_eq(stored.values[RA_PROP_ONBOARDING_STATUS], "onboarded");
    ck_assert_str_eq(stored.values[RA_PROP_LAST_CONNECTION],
                     "2016-12-31T23:58:36.6670033-08:00");
    ck_assert_str_eq(stored.values[RA_PROP_EXPIRY], "2017-01-01T00:02:07.7573274-08:00");
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
    for (size_t i = 0; i < COUNT_OF(valid_datetimes); i++) {
        apr_int64_t ticks = -1;
        ck_assert_msg(ra_entity_datetime_parse(valid_datetimes[i], NULL) == 1,
                      "%s rejected", valid_datetimes[i]);
        ck_assert_int_eq(ra_entity_datetime_parse(valid_datetimes[i], &ticks), 1);
        ck_assert_msg(ticks >= 0, "%s: ticks %lld", valid_datetimes[i], (long long)ticks);
    }
}
END_TEST

START_TEST(datetime_invalid)
{
    for (size_t i = 0; i < COUNT_OF(invalid_datetimes); i++) {
        apr_int64_t ticks = 42;
        ck_assert_msg(ra_entity_datetime_parse(invalid_datetimes[i], &ticks) == 0,
                      "%s accepted", invalid_datetimes[i]);
        ck_assert_msg(ticks == 42, "%s: ticks written", invalid_datetimes[i]);
    }
}
END_TEST

/* Instants in 100 ns ticks since 0001-01-01T00:00:00Z, as .NET's
 * DateTimeOffset.UtcTicks gives them. */
START_TEST(datetime_ticks)
{
    static const struct {
        const char *text;
        apr_int64_t ticks;
    } cases[] = {
        { "0001-01-01T00:00:00Z", APR_INT64_C(0) },
        { "0001-01-01T00:00:00.0000001Z", APR_INT64_C(1) },
        { "0001-01-02T00:00Z", APR_INT64_C(864000000000) },
        { "1600-03-01T00:00:00Z", APR_INT64_C(504646848000000000) },
        { "1900-03-01T00:00:00Z", APR_INT64_C(599317056000000000) },
        { "1970-01-01T00:00:00Z", APR_INT64_C(621355968000000000) },
        { "2000-02-29T12:00:00Z", APR_INT64_C(630874224000000000) },
        { "2016-12-31T23:58:36.1Z", APR_INT64_C(636188255161000000) },
        { "2016-12-31T23:58:36.6670033-08:00", APR_INT64_C(636188543166670033) },
        { "2016-12-31T23:58+05:30", APR_INT64_C(636188056800000000) },
        { "2017-01-01T00:02:07.7573274-08:00", APR_INT64_C(636188545277573274) },
        { "9999-12-31T23:59:59.9999999Z", APR_INT64_C(3155378975999999999) },
        { "9999-12-31T23:59:59.9999999+13:59", APR_INT64_C(3155378472599999999) },
    };
    for (size_t i = 0; i < COUNT_OF(cases); i++) {
        apr_int64_t ticks = -1;
        ck_assert_msg(ra_entity_datetime_parse(cases[i].text, &ticks) == 1, "%s rejected",
                      cases[i].text);
        ck_assert_msg(ticks == cases[i].ticks, "%s: %lld ticks, expected %lld", cases[i].text,
                      (long long)ticks, (long long)cases[i].ticks);
    }
}
END_TEST

/* One instant written with different offsets and precisions. */
START_TEST(datetime_offsets_same_instant)
{
    static const char *const same[] = {
        "2017-01-01T07:58:36Z",
        "2016-12-31T23:58:36-08:00",
        "2017-01-01T13:28:36+05:30",
        "2017-01-01T07:58:36.0000000+00:00",
        "2017-01-01T07:58:36.0Z",
    };
    apr_int64_t first, ticks;
    ck_assert_int_eq(ra_entity_datetime_parse(same[0], &first), 1);
    for (size_t i = 1; i < COUNT_OF(same); i++) {
        ck_assert_int_eq(ra_entity_datetime_parse(same[i], &ticks), 1);
        ck_assert_msg(ticks == first, "%s differs from %s", same[i], same[0]);
    }
    /* a fraction is read as 7 digits: .1 is a million ticks, not one */
    ck_assert_int_eq(ra_entity_datetime_parse("2017-01-01T07:58:36.1Z", &ticks), 1);
    ck_assert_int_eq(ticks - first, 1000000);
    ck_assert_int_eq(ra_entity_datetime_parse("2017-01-01T07:58:36.0000001Z", &ticks), 1);
    ck_assert_int_eq(ticks - first, 1);
}
END_TEST

START_TEST(datetime_properties)
{
    ra_partner_t p;
    const char *message;
    for (size_t i = 0; i < COUNT_OF(valid_datetimes); i++) {
        ck_assert_int_eq(validate(RA_VERSION_BETA,
                                  one("onboardingRequestExpiryDateTime",
                                      json_string(valid_datetimes[i])), &p, &message), 1);
        ck_assert_str_eq(p.values[RA_PROP_EXPIRY], valid_datetimes[i]);
        assert_one_ok(RA_VERSION_V1, "lastConnectionDateTime", json_string(valid_datetimes[i]));
    }
    for (size_t i = 0; i < COUNT_OF(invalid_datetimes); i++) {
        assert_one_rejected(RA_VERSION_V1, "lastConnectionDateTime",
                            json_string(invalid_datetimes[i]));
        assert_one_rejected(RA_VERSION_BETA, "onboardingRequestExpiryDateTime",
                            json_string(invalid_datetimes[i]));
    }
    assert_one_rejected(RA_VERSION_V1, "lastConnectionDateTime", json_null());
    assert_one_rejected(RA_VERSION_V1, "lastConnectionDateTime", json_integer(1483228716));
    ck_assert_int_eq(validate(RA_VERSION_V1, one("lastConnectionDateTime",
                                                 json_string("2016-12-31")), NULL,
                              &message), 0);
    ck_assert_str_eq(message, "Property 'lastConnectionDateTime' has an invalid value; "
                              "expected an ISO 8601 DateTimeOffset with offset, such as "
                              "2016-12-31T23:58:36.6670033-08:00.");
}
END_TEST

/* ---- ra_entity_write ---- */

/* The writer's text of the entity at metadata level (the expected texts
 * below are what jansson wrote from the tree the module built before). */
static const char *written_at(ra_jw_metadata_e level, const ra_partner_t *p,
                              ra_version_e version, unsigned select, const char *context)
{
    ra_jw_t jw;
    ra_jw_text_t text = { .pool = pool };
    ra_jw_init(&jw, ra_jw_text_sink, &text);
    jw.metadata = level;
    ra_entity_write(&jw, p, version, select, context, NULL);
    ck_assert_int_eq(ra_jw_finish(&jw), APR_SUCCESS);
    return text.text;
}

static const char *written(const ra_partner_t *p, ra_version_e version, unsigned select,
                           const char *context)
{
    return written_at(RA_JW_METADATA_MINIMAL, p, version, select, context);
}

#define TYPE_JSON "\"@odata.type\":\"#microsoft.graph.remoteAssistancePartner\""

START_TEST(to_json_v1)
{
    ra_partner_t p = { .values = { "id-1", NULL, "https://u/", "onboarded", NULL,
                                   "2017-01-01T00:00:00Z" } };
    /* members in the documented order, exactly; the beta property left out */
    ck_assert_str_eq(written(&p, RA_VERSION_V1, 0, "ctx-url"),
                     "{\"@odata.context\":\"ctx-url\"," TYPE_JSON ",\"id\":\"id-1\","
                     "\"displayName\":null,\"onboardingUrl\":\"https://u/\","
                     "\"onboardingStatus\":\"onboarded\","
                     "\"lastConnectionDateTime\":null}");
}
END_TEST

START_TEST(to_json_beta)
{
    ra_partner_t empty = { .values = { "id-2", NULL, NULL, NULL, NULL, NULL } };
    ra_partner_t full = { .values = { "id-3", "name", "https://u/", "notOnboarded",
                                      "2016-12-31T23:58:36Z",
                                      "2017-01-01T00:02:07.7573274-08:00" } };
    ck_assert_str_eq(written(&empty, RA_VERSION_BETA, 0, "c"),
                     "{\"@odata.context\":\"c\"," TYPE_JSON ",\"id\":\"id-2\","
                     "\"displayName\":null,\"onboardingUrl\":null,"
                     "\"onboardingStatus\":null,\"lastConnectionDateTime\":null,"
                     "\"onboardingRequestExpiryDateTime\":null}");
    ck_assert_str_eq(written(&full, RA_VERSION_BETA, 0, "c"),
                     "{\"@odata.context\":\"c\"," TYPE_JSON ",\"id\":\"id-3\","
                     "\"displayName\":\"name\",\"onboardingUrl\":\"https://u/\","
                     "\"onboardingStatus\":\"notOnboarded\","
                     "\"lastConnectionDateTime\":\"2016-12-31T23:58:36Z\","
                     "\"onboardingRequestExpiryDateTime\":"
                     "\"2017-01-01T00:02:07.7573274-08:00\"}");
}
END_TEST

/* Without a context URL (entities inside a collection), with an ETag
 * (after @odata.type, weak), and with $select's mask. */
START_TEST(to_json_context_etag_select)
{
    ra_partner_t p = { .values = { "id-4", "name", NULL, "onboarding", "2016-12-31T23:58:36Z",
                                   "2017-01-01T00:00:00Z" },
                       .etag = "0a1b" };
    static const struct {
        ra_version_e version;
        unsigned select;
        const char *context;
        const char *json;
    } cases[] = {
        { RA_VERSION_V1, 0, NULL,
          "{" TYPE_JSON ",\"@odata.etag\":\"W/\\\"0a1b\\\"\",\"id\":\"id-4\","
          "\"displayName\":\"name\",\"onboardingUrl\":null,\"onboardingStatus\":\"onboarding\","
          "\"lastConnectionDateTime\":\"2016-12-31T23:58:36Z\"}" },
        /* the document's order, whatever order the mask was built in */
        { RA_VERSION_V1, RA_PROP_BIT(RA_PROP_ONBOARDING_STATUS) | RA_PROP_BIT(RA_PROP_ID), "c",
          "{\"@odata.context\":\"c\"," TYPE_JSON ",\"@odata.etag\":\"W/\\\"0a1b\\\"\","
          "\"id\":\"id-4\",\"onboardingStatus\":\"onboarding\"}" },
        { RA_VERSION_BETA, RA_PROP_BIT(RA_PROP_EXPIRY), NULL,
          "{" TYPE_JSON ",\"@odata.etag\":\"W/\\\"0a1b\\\"\","
          "\"onboardingRequestExpiryDateTime\":\"2017-01-01T00:00:00Z\"}" },
        /* a beta-only bit selects nothing in v1.0 */
        { RA_VERSION_V1, RA_PROP_BIT(RA_PROP_EXPIRY) | RA_PROP_BIT(RA_PROP_DISPLAY_NAME), NULL,
          "{" TYPE_JSON ",\"@odata.etag\":\"W/\\\"0a1b\\\"\",\"displayName\":\"name\"}" },
        /* $select=* is every bit */
        { RA_VERSION_V1, (1u << RA_PROP_COUNT) - 1, NULL,
          "{" TYPE_JSON ",\"@odata.etag\":\"W/\\\"0a1b\\\"\",\"id\":\"id-4\","
          "\"displayName\":\"name\",\"onboardingUrl\":null,\"onboardingStatus\":\"onboarding\","
          "\"lastConnectionDateTime\":\"2016-12-31T23:58:36Z\"}" },
    };
    for (size_t i = 0; i < COUNT_OF(cases); i++) {
        ck_assert_str_eq(written(&p, cases[i].version, cases[i].select, cases[i].context),
                         cases[i].json);
    }
}
END_TEST

/* Metadata level none leaves out every annotation; full keeps them. */
START_TEST(write_metadata_levels)
{
    ra_partner_t p = { .values = { "id-5", "n", NULL, "onboarded", NULL, NULL },
                       .etag = "e" };
    ck_assert_str_eq(written_at(RA_JW_METADATA_NONE, &p, RA_VERSION_V1,
                                RA_PROP_BIT(RA_PROP_ID), "c"), "{\"id\":\"id-5\"}");
    ck_assert_str_eq(written_at(RA_JW_METADATA_FULL, &p, RA_VERSION_V1,
                                RA_PROP_BIT(RA_PROP_ID), "c"),
                     "{\"@odata.context\":\"c\"," TYPE_JSON ",\"@odata.etag\":\"W/\\\"e\\\"\","
                     "\"id\":\"id-5\"}");
}
END_TEST

/* Full metadata with the collection's URL: the entity's id and edit link,
 * the actions' targets and the types JSON cannot tell. */
START_TEST(write_full_metadata_links)
{
    ra_partner_t p = { .values = { "id-5", "n", NULL, "onboarded", "2020-01-01T00:00:00Z",
                                   NULL },
                       .etag = "e" };
    ra_jw_t jw;
    ra_jw_text_t text = { .pool = pool };
    ra_jw_init(&jw, ra_jw_text_sink, &text);
    jw.metadata = RA_JW_METADATA_FULL;
    ra_entity_write(&jw, &p, RA_VERSION_V1, 0, NULL, "https://h/v1.0/dm/rap");
    ck_assert_int_eq(ra_jw_finish(&jw), APR_SUCCESS);
    ck_assert_str_eq(text.text,
                     "{" TYPE_JSON ",\"@odata.etag\":\"W/\\\"e\\\"\","
                     "\"@odata.id\":\"https://h/v1.0/dm/rap('id-5')\","
                     "\"@odata.editLink\":\"https://h/v1.0/dm/rap('id-5')\","
                     "\"#microsoft.graph.beginOnboarding\":{\"target\":"
                     "\"https://h/v1.0/dm/rap('id-5')/microsoft.graph.beginOnboarding\"},"
                     "\"#microsoft.graph.disconnect\":{\"target\":"
                     "\"https://h/v1.0/dm/rap('id-5')/microsoft.graph.disconnect\"},"
                     "\"id\":\"id-5\",\"displayName\":\"n\",\"onboardingUrl\":null,"
                     "\"onboardingStatus@odata.type\":"
                     "\"#microsoft.graph.remoteAssistanceOnboardingStatus\","
                     "\"onboardingStatus\":\"onboarded\","
                     "\"lastConnectionDateTime@odata.type\":\"#DateTimeOffset\","
                     "\"lastConnectionDateTime\":\"2020-01-01T00:00:00Z\"}");
    /* at minimal, the collection's URL adds nothing */
    text = (ra_jw_text_t){ .pool = pool };
    ra_jw_init(&jw, ra_jw_text_sink, &text);
    ra_entity_write(&jw, &p, RA_VERSION_V1, RA_PROP_BIT(RA_PROP_ID), NULL, "https://h/c");
    ck_assert_int_eq(ra_jw_finish(&jw), APR_SUCCESS);
    ck_assert_ptr_null(strstr(text.text, "@odata.id"));
}
END_TEST

START_TEST(round_trip)
{
    ra_partner_t p, q;
    const char *message;
    seed_partner("rt", &p);
    p.etag = "e1";
    json_t *out = json_loads(written(&p, RA_VERSION_BETA, 0, "ctx"), 0, NULL);
    ck_assert_ptr_nonnull(out);
    /* the response, with its context and ETag annotations, is itself a valid
     * body, for a create and an update */
    ck_assert_int_eq(ra_entity_decode(pool, RA_VERSION_BETA, RA_DECODE_UPDATE, out, &q,
                                      &message), 1);
    ck_assert_uint_eq(q.present, (1u << RA_PROP_COUNT) - 1);
    ck_assert_int_eq(ra_entity_decode(pool, RA_VERSION_BETA, RA_DECODE_CREATE, out, &q,
                                      &message), 1);
    json_decref(out);
    for (int i = 0; i < RA_PROP_COUNT; i++) {
        ck_assert_str_eq(q.values[i], p.values[i]);
    }
}
END_TEST

/* ---- ETags ---- */

START_TEST(new_etag_format)
{
    const char *a = ra_entity_new_etag(pool), *b = ra_entity_new_etag(pool);
    ck_assert_uint_eq(strlen(a), 24);
    ck_assert_uint_eq(strspn(a, "0123456789abcdef"), 24);
    ck_assert_str_ne(a, b);
    ck_assert_str_eq(ra_entity_etag_header(pool, a), apr_pstrcat(pool, "W/\"", a, "\"", NULL));
    ck_assert_str_eq(ra_entity_etag_header(pool, "x"), "W/\"x\"");
}
END_TEST

START_TEST(if_match)
{
    static const struct {
        const char *header;
        int matches;
    } cases[] = {
        { "*", 1 },
        { " *", 1 },
        { "\"abc\"", 1 },
        { "W/\"abc\"", 1 },          /* weak comparison */
        { "\"x\", W/\"abc\"", 1 },
        { "\"x\",\"abc\"", 1 },
        { "  \"abc\"  ", 1 },
        { "\t\"x\",\t\"abc\"", 1 },
        { "\"abcd\"", 0 },
        { "\"ab\"", 0 },
        { "\"ABC\"", 0 },            /* entity tags are case-sensitive */
        { "\"\"", 0 },
        { "\"x\", \"y\"", 0 },
        { "abc", 0 },                /* not quoted: not an entity tag */
        { "W/abc", 0 },
        { "w/\"abc\"", 0 },          /* W/ is case-sensitive */
        { "\"abc", 0 },              /* not closed */
        { "", 0 },
    };
    for (size_t i = 0; i < COUNT_OF(cases); i++) {
        ck_assert_msg(ra_entity_if_match(cases[i].header, "abc") == cases[i].matches,
                      "If-Match %s should %smatch \"abc\"", cases[i].header,
                      cases[i].matches ? "" : "not ");
    }
    /* the header a response sent matches the entity it came from */
    const char *etag = ra_entity_new_etag(pool);
    ck_assert_int_eq(ra_entity_if_match(ra_entity_etag_header(pool, etag), etag), 1);
    ck_assert_int_eq(ra_entity_if_match(ra_entity_etag_header(pool, etag),
                                        ra_entity_new_etag(pool)), 0);
}
END_TEST

/* OData string literals as $filter and keys write them: '' is one quote. */
START_TEST(string_literals)
{
    static const struct {
        const char *source;
        const char *text;  /* NULL: not closed */
        const char *rest;
    } cases[] = {
        { "'abc'", "abc", "" },
        { "''", "", "" },
        { "'x') eq 'y'", "x", ") eq 'y'" },
        { "''''", "'", "" },
        { "'a''b'')'", "a'b')", "" },
        { "'it''s'x", "it's", "x" },
        { "'''')", "'", ")" },
        { "'caf\xc3\xa9'", "caf\xc3\xa9", "" },
        { "'%27'", "%27", "" },       /* already percent-decoded: no second pass */
        { "'", NULL, NULL },
        { "'abc", NULL, NULL },
        { "'a''", NULL, NULL },        /* the quote is escaped, the literal open */
        { "'a'''", "a'", "" },
    };
    for (size_t i = 0; i < COUNT_OF(cases); i++) {
        const char *end = NULL;
        const char *text = ra_entity_string_literal(pool, cases[i].source, &end);
        if (!cases[i].text) {
            ck_assert_msg(text == NULL, "%s: '%s'", cases[i].source, text);
            continue;
        }
        ck_assert_msg(text && !strcmp(text, cases[i].text), "%s: %s", cases[i].source,
                      text ? text : "(not closed)");
        ck_assert_str_eq(end, cases[i].rest);
    }
}
END_TEST

Suite *entity_suite(void)
{
    Suite *s = suite_create("entity");
    TCase *tc = pool_tcase(s, "decode");
    tcase_add_test(tc, version_parse_and_name);
    tcase_add_test(tc, property_table);
    tcase_add_test(tc, seed_v1_accepted);
    tcase_add_test(tc, seed_beta_accepted);
    tcase_add_test(tc, create_defaults);
    tcase_add_test(tc, update_marks_present_only);
    tcase_add_test(tc, create_marks_present);
    tcase_add_test(tc, nullability);
    tcase_add_test(tc, expiry_rejected_in_v1);
    tcase_add_test(tc, unknown_property_named);
    tcase_add_test(tc, property_annotation_accepted);
    tcase_add_test(tc, unknown_property_annotation_rejected);
    tcase_add_test(tc, instance_annotations_ignored);
    tcase_add_test(tc, odata_type_checked);
    tcase_add_test(tc, id_rules);
    tcase_add_test(tc, id_null_message);
    tcase_add_test(tc, display_name_rules);
    tcase_add_test(tc, type_messages);
    tcase_add_test(tc, onboarding_url_rules);
    tcase_add_test(tc, onboarding_status_rules);

    tcase_add_test(tc, string_literals);

    tc = pool_tcase(s, "apply");
    tcase_add_test(tc, apply_copies_present_only);
    tcase_add_test(tc, apply_decoded_update);

    tc = pool_tcase(s, "datetime");
    tcase_add_test(tc, datetime_valid);
    tcase_add_test(tc, datetime_invalid);
    tcase_add_test(tc, datetime_ticks);
    tcase_add_test(tc, datetime_offsets_same_instant);
    tcase_add_test(tc, datetime_properties);

    tc = pool_tcase(s, "to_json");
    tcase_add_test(tc, to_json_v1);
    tcase_add_test(tc, to_json_beta);
    tcase_add_test(tc, to_json_context_etag_select);
    tcase_add_test(tc, write_metadata_levels);
    tcase_add_test(tc, write_full_metadata_links);
    tcase_add_test(tc, round_trip);

    tc = pool_tcase(s, "etag");
    tcase_add_test(tc, new_etag_format);
    tcase_add_test(tc, if_match);
    return s;
}
