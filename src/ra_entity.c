/* remoteAssistancePartner properties, one table for validation and output,
 * so the documented order and the version split live in one place. */
#include "ra_entity.h"

#include <stddef.h>
#include <string.h>

#include <apr_lib.h>
#include <apr_strings.h>

typedef enum {
    PROP_ID,       /* Edm.String key, restricted to URL-safe characters */
    PROP_STRING,   /* Edm.String or null */
    PROP_STATUS,   /* remoteAssistanceOnboardingStatus or null */
    PROP_DATETIME  /* Edm.DateTimeOffset or null */
} prop_kind_e;

typedef struct {
    const char *name;
    size_t offset;    /* of the const char * in ra_partner_t */
    prop_kind_e kind;
    size_t max_chars; /* PROP_STRING: longest value in characters */
    int beta_only;
} prop_t;

#define PARTNER_FIELD(member) offsetof(ra_partner_t, member)

/* Documented order of the resource page; responses follow it. */
static const prop_t props[] = {
    { "id", PARTNER_FIELD(id), PROP_ID, RA_ENTITY_ID_MAX, 0 },
    { "displayName", PARTNER_FIELD(display_name), PROP_STRING, 256, 0 },
    { "onboardingUrl", PARTNER_FIELD(onboarding_url), PROP_STRING, 2048, 0 },
    { "onboardingStatus", PARTNER_FIELD(onboarding_status), PROP_STATUS, 0, 0 },
    { "lastConnectionDateTime", PARTNER_FIELD(last_connection_date_time),
      PROP_DATETIME, 0, 0 },
    { "onboardingRequestExpiryDateTime",
      PARTNER_FIELD(onboarding_request_expiry_date_time), PROP_DATETIME, 0, 1 },
};
#define PROP_COUNT (sizeof(props) / sizeof(props[0]))

/* Enum members are case-sensitive, as in OData JSON. */
static const char *const onboarding_statuses[] = { "notOnboarded", "onboarding",
                                                   "onboarded" };

const char *ra_version_name(ra_version_e version)
{
    return version == RA_VERSION_BETA ? "beta" : "v1.0";
}

int ra_version_parse(const char *word, ra_version_e *version)
{
    if (!strcmp(word, "v1.0")) {
        *version = RA_VERSION_V1;
    }
    else if (!strcmp(word, "beta")) {
        *version = RA_VERSION_BETA;
    }
    else {
        return 0;
    }
    return 1;
}

static const char **prop_slot(const prop_t *prop, const ra_partner_t *partner)
{
    return (const char **)((char *)partner + prop->offset);
}

static const prop_t *find_prop(ra_version_e version, const char *name, size_t len)
{
    for (size_t i = 0; i < PROP_COUNT; i++) {
        if (strlen(props[i].name) == len && !strncmp(props[i].name, name, len)
            && (!props[i].beta_only || version == RA_VERSION_BETA)) {
            return &props[i];
        }
    }
    return NULL;
}

/* Characters (code points) in valid UTF-8, as jansson guarantees. */
static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++) {
        n += ((unsigned char)*s & 0xC0) != 0x80;
    }
    return n;
}

static int two_digits(const char *s, int *value)
{
    if (!apr_isdigit(s[0]) || !apr_isdigit(s[1])) {
        return 0;
    }
    *value = (s[0] - '0') * 10 + (s[1] - '0');
    return 1;
}

static int days_in_month(int year, int month)
{
    static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return days[month - 1] + (month == 2 && leap);
}

int ra_entity_datetime_valid(const char *s)
{
    int century, yy, month, day, hour, minute, second = 0, oh, om;

    if (!two_digits(s, &century) || !two_digits(s + 2, &yy) || s[4] != '-'
        || !two_digits(s + 5, &month) || s[7] != '-' || !two_digits(s + 8, &day)
        || s[10] != 'T' || !two_digits(s + 11, &hour) || s[13] != ':'
        || !two_digits(s + 14, &minute)) {
        return 0;
    }
    int year = century * 100 + yy;
    s += 16;
    if (*s == ':') {
        if (!two_digits(s + 1, &second)) {
            return 0;
        }
        s += 3;
        if (*s == '.') {
            size_t digits = strspn(s + 1, "0123456789");
            if (digits < 1 || digits > 7) {
                return 0;
            }
            s += 1 + digits;
        }
    }
    if (year < 1 || month < 1 || month > 12 || day < 1
        || day > days_in_month(year, month) || hour > 23 || minute > 59
        || second > 59) {
        return 0;
    }
    if (s[0] == 'Z') {
        return s[1] == '\0';
    }
    return (s[0] == '+' || s[0] == '-') && two_digits(s + 1, &oh) && s[3] == ':'
           && two_digits(s + 4, &om) && s[6] == '\0' && om <= 59
           && (oh < 14 || (oh == 14 && om == 0));
}

int ra_entity_id_valid(const char *s)
{
    size_t len = strlen(s);
    return len >= 1 && len <= RA_ENTITY_ID_MAX
           && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                        "0123456789-._~") == len;
}

static int status_valid(const char *s)
{
    for (size_t i = 0; i < sizeof(onboarding_statuses) / sizeof(onboarding_statuses[0]); i++) {
        if (!strcmp(s, onboarding_statuses[i])) {
            return 1;
        }
    }
    return 0;
}

/* Checks one property value; returns NULL or the Graph error message. */
static const char *check_value(apr_pool_t *pool, const prop_t *prop, json_t *value)
{
    const char *s = json_string_value(value);

    if (json_is_null(value)) {
        return prop->kind == PROP_ID
               ? "Property 'id' cannot be null; omit it to have one generated."
               : NULL;
    }
    if (!s) {
        return apr_psprintf(pool, "Property '%s' must be a string%s.", prop->name,
                            prop->kind == PROP_ID ? "" : " or null");
    }
    switch (prop->kind) {
    case PROP_ID:
        return ra_entity_id_valid(s) ? NULL
               : "Property 'id' must be 1 to 128 characters from A-Z, a-z, 0-9, "
                 "'-', '.', '_' and '~'.";
    case PROP_STRING:
        return utf8_chars(s) <= prop->max_chars ? NULL
               : apr_psprintf(pool, "Property '%s' is longer than %" APR_SIZE_T_FMT
                              " characters.", prop->name, prop->max_chars);
    case PROP_STATUS:
        return status_valid(s) ? NULL
               : "Property 'onboardingStatus' has an invalid value; expected one of "
                 "notOnboarded, onboarding, onboarded.";
    case PROP_DATETIME:
        return ra_entity_datetime_valid(s) ? NULL
               : apr_psprintf(pool, "Property '%s' has an invalid value; expected an "
                              "ISO 8601 DateTimeOffset with offset, such as "
                              "2016-12-31T23:58:36.6670033-08:00.", prop->name);
    }
    return NULL;
}

static const char *unknown_property(apr_pool_t *pool, const char *name, size_t len)
{
    return apr_psprintf(pool, "The property '%.*s' does not exist on type '"
                        RA_ENTITY_TYPE "'. Make sure to only use property names "
                        "that are defined by the type.", (int)len, name);
}

/* Checks one member of the body; returns NULL or the Graph error message. */
static const char *check_member(apr_pool_t *pool, ra_version_e version,
                                const char *key, json_t *value, ra_partner_t *partner)
{
    const char *at = strchr(key, '@');

    if (at == key) { /* an instance annotation */
        if (strcmp(key, "@odata.type")) {
            return NULL; /* OData: unknown annotations are ignored */
        }
        return json_is_string(value)
               && !strcmp(json_string_value(value), RA_ENTITY_ODATA_TYPE) ? NULL
               : "Property '@odata.type' must be '" RA_ENTITY_ODATA_TYPE "'.";
    }
    const prop_t *prop = find_prop(version, key, at ? (size_t)(at - key) : strlen(key));
    if (!prop) {
        return unknown_property(pool, key, at ? (size_t)(at - key) : strlen(key));
    }
    if (at) {
        return NULL; /* an annotation of a defined property */
    }
    const char *message = check_value(pool, prop, value);
    if (!message && json_is_string(value)) {
        *prop_slot(prop, partner) = apr_pstrdup(pool, json_string_value(value));
    }
    return message;
}

int ra_entity_from_json(apr_pool_t *pool, ra_version_e version, json_t *body,
                        ra_partner_t *partner, const char **message)
{
    const char *key;
    json_t *value;

    memset(partner, 0, sizeof(*partner));
    *message = NULL;
    json_object_foreach(body, key, value) {
        *message = check_member(pool, version, key, value, partner);
        if (*message) {
            return 0;
        }
    }
    return 1;
}

json_t *ra_entity_to_json(const ra_partner_t *partner, ra_version_e version,
                          const char *context_url)
{
    json_t *out = json_object();
    json_object_set_new(out, "@odata.context", json_string(context_url));
    json_object_set_new(out, "@odata.type", json_string(RA_ENTITY_ODATA_TYPE));
    for (size_t i = 0; i < PROP_COUNT; i++) {
        if (props[i].beta_only && version != RA_VERSION_BETA) {
            continue;
        }
        const char *value = *prop_slot(&props[i], partner);
        json_object_set_new(out, props[i].name, value ? json_string(value) : json_null());
    }
    return out;
}
