/* remoteAssistancePartner properties: one table for validation, defaults,
 * output and query names, so the documented order, the version split and the
 * CSDL's nullability live in one place. */
#include "ra_entity.h"

#include <stddef.h>
#include <string.h>

#include <apr_escape.h>
#include <apr_general.h>
#include <apr_lib.h>
#include <apr_strings.h>

typedef struct {
    const char *name;
    ra_prop_kind_e kind;
    int nullable;           /* the CSDL's Nullable */
    size_t max_chars;       /* strings: longest value in characters */
    int beta_only;
    const char *fallback;   /* a create's value when the body has none */
} prop_t;

/* Indexed by ra_prop_e. Nullability from Graph's metadata: the DateTimeOffsets
 * and the status are Nullable="false"; Intune answers 0001-01-01T00:00:00Z
 * for a DateTimeOffset never set. */
static const prop_t props[RA_PROP_COUNT] = {
    [RA_PROP_ID] = { "id", RA_KIND_ID, 0, RA_ENTITY_ID_MAX, 0, NULL },
    [RA_PROP_DISPLAY_NAME] = { "displayName", RA_KIND_STRING, 1, 256, 0, NULL },
    [RA_PROP_ONBOARDING_URL] = { "onboardingUrl", RA_KIND_STRING, 1, 2048, 0, NULL },
    [RA_PROP_ONBOARDING_STATUS] = { "onboardingStatus", RA_KIND_STATUS, 0, 0, 0,
                                    RA_ENTITY_STATUS_DEFAULT },
    [RA_PROP_LAST_CONNECTION] = { "lastConnectionDateTime", RA_KIND_DATETIME, 0, 0, 0,
                                  RA_ENTITY_DATETIME_UNSET },
    [RA_PROP_EXPIRY] = { "onboardingRequestExpiryDateTime", RA_KIND_DATETIME, 0, 0, 1,
                         RA_ENTITY_DATETIME_UNSET },
};

/* Enum members are case-sensitive, as in OData JSON; indexed by their
 * values in Graph's CSDL. */
static const char *const onboarding_statuses[RA_ENTITY_STATUS_MEMBERS] = {
    "notOnboarded", "onboarding", "onboarded"
};

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

const char *ra_prop_name(ra_prop_e prop)
{
    return props[prop].name;
}

ra_prop_kind_e ra_prop_kind(ra_prop_e prop)
{
    return props[prop].kind;
}

int ra_prop_nullable(ra_prop_e prop)
{
    return props[prop].nullable;
}

int ra_prop_in_version(ra_prop_e prop, ra_version_e version)
{
    return !props[prop].beta_only || version == RA_VERSION_BETA;
}

int ra_prop_find(ra_version_e version, const char *name, size_t len)
{
    for (int i = 0; i < RA_PROP_COUNT; i++) {
        if (strlen(props[i].name) == len && !strncmp(props[i].name, name, len)
            && ra_prop_in_version((ra_prop_e)i, version)) {
            return i;
        }
    }
    return -1;
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

static int digits(const char *s, int count, int *value)
{
    *value = 0;
    for (int i = 0; i < count; i++) {
        if (!apr_isdigit(s[i])) {
            return 0;
        }
        *value = *value * 10 + (s[i] - '0');
    }
    return 1;
}

static int days_in_month(int year, int month)
{
    static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return days[month - 1] + (month == 2 && leap);
}

/* Days from 0001-01-01 to year-month-day in the proleptic Gregorian calendar
 * (Howard Hinnant's days_from_civil, shifted to .NET's epoch). */
static apr_int64_t days_since_epoch(int year, int month, int day)
{
    int y = year - (month <= 2);
    int era = y / 400;
    int yoe = y - era * 400;
    int doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    /* era * 146097 + doe - 719468 counts from 1970-01-01; 0001-01-01 is -719162 */
    return (apr_int64_t)era * 146097 + doe - 719468 + 719162;
}

#define TICKS_PER_SECOND APR_INT64_C(10000000)

int ra_entity_datetime_parse(const char *s, apr_int64_t *ticks)
{
    int year, month, day, hour, minute, second = 0, oh = 0, om = 0, sign = 0;
    apr_int64_t fraction = 0;

    if (!digits(s, 4, &year) || s[4] != '-' || !digits(s + 5, 2, &month) || s[7] != '-'
        || !digits(s + 8, 2, &day) || s[10] != 'T' || !digits(s + 11, 2, &hour)
        || s[13] != ':' || !digits(s + 14, 2, &minute)) {
        return 0;
    }
    s += 16;
    if (*s == ':') {
        if (!digits(s + 1, 2, &second)) {
            return 0;
        }
        s += 3;
        if (*s == '.') {
            size_t n = strspn(s + 1, "0123456789");
            if (n < 1 || n > 7) {
                return 0;
            }
            for (size_t i = 0; i < 7; i++) {
                fraction = fraction * 10 + (i < n ? s[1 + i] - '0' : 0);
            }
            s += 1 + n;
        }
    }
    if (year < 1 || month < 1 || month > 12 || day < 1 || day > days_in_month(year, month)
        || hour > 23 || minute > 59 || second > 59) {
        return 0;
    }
    if (s[0] == 'Z') {
        if (s[1] != '\0') {
            return 0;
        }
    }
    else if ((s[0] == '+' || s[0] == '-') && digits(s + 1, 2, &oh) && s[3] == ':'
             && digits(s + 4, 2, &om) && s[6] == '\0' && om <= 59
             && (oh < 14 || (oh == 14 && om == 0))) {
        sign = s[0] == '+' ? 1 : -1;
    }
    else {
        return 0;
    }
    if (ticks) {
        apr_int64_t seconds = days_since_epoch(year, month, day) * 86400 + hour * 3600
                            + minute * 60 + second - sign * (oh * 3600 + om * 60);
        *ticks = seconds * TICKS_PER_SECOND + fraction;
    }
    return 1;
}

char *ra_entity_string_literal(apr_pool_t *pool, const char *p, const char **end)
{
    char *out = apr_palloc(pool, strlen(p));
    size_t n = 0;
    for (p++;; p++) {
        if (*p == '\0') {
            return NULL;
        }
        if (*p == '\'') {
            if (p[1] != '\'') {
                break;
            }
            p++;
        }
        out[n++] = *p;
    }
    out[n] = '\0';
    *end = p + 1;
    return out;
}

int ra_entity_id_valid(const char *s)
{
    size_t len = strlen(s);
    return len >= 1 && len <= RA_ENTITY_ID_MAX
           && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                        "0123456789-._~") == len;
}

/* Whether a client may give a new partner the id s. "." and ".." are valid
 * characters but dot-segments (RFC 3986 5.2.4): httpd removes them from a
 * path before any module sees it, so .../remoteAssistancePartners/. would
 * name the collection and /.. leave it, and the partner could be read only
 * in the ('{id}') form. */
static int id_addressable(const char *s)
{
    return ra_entity_id_valid(s) && strcmp(s, ".") && strcmp(s, "..");
}

int ra_entity_status_value(const char *s)
{
    for (int i = 0; i < RA_ENTITY_STATUS_MEMBERS; i++) {
        if (!strcmp(s, onboarding_statuses[i])) {
            return i;
        }
    }
    return -1;
}

int ra_entity_status_valid(const char *s)
{
    return ra_entity_status_value(s) >= 0;
}

const char *ra_entity_status_member(int value)
{
    return value >= 0 && value < RA_ENTITY_STATUS_MEMBERS ? onboarding_statuses[value] : NULL;
}

/* Checks one property value; returns NULL or the Graph error message. */
static const char *check_value(apr_pool_t *pool, const prop_t *prop, json_t *value)
{
    const char *s = json_string_value(value);

    if (json_is_null(value)) {
        if (prop->nullable) {
            return NULL;
        }
        return prop->kind == RA_KIND_ID
               ? "Property 'id' cannot be null; omit it to have one generated."
               : apr_psprintf(pool, "Property '%s' cannot be null; omit it to keep "
                              "its current or default value.", prop->name);
    }
    if (!s) {
        return apr_psprintf(pool, "Property '%s' must be a string%s.", prop->name,
                            prop->nullable ? " or null" : "");
    }
    switch (prop->kind) {
    case RA_KIND_ID:
        return id_addressable(s) ? NULL
               : "Property 'id' must be 1 to 128 characters from A-Z, a-z, 0-9, "
                 "'-', '.', '_' and '~', other than '.' and '..'.";
    case RA_KIND_STRING:
        return utf8_chars(s) <= prop->max_chars ? NULL
               : apr_psprintf(pool, "Property '%s' is longer than %" APR_SIZE_T_FMT
                              " characters.", prop->name, prop->max_chars);
    case RA_KIND_STATUS:
        return ra_entity_status_valid(s) ? NULL
               : "Property 'onboardingStatus' has an invalid value; expected one of "
                 "notOnboarded, onboarding, onboarded.";
    case RA_KIND_DATETIME:
        return ra_entity_datetime_parse(s, NULL) ? NULL
               : apr_psprintf(pool, "Property '%s' has an invalid value; expected an "
                              "ISO 8601 DateTimeOffset with offset, such as "
                              "2016-12-31T23:58:36.6670033-08:00.", prop->name);
    case RA_KIND_GUID: /* no partner property is a Guid */
        break;
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
    size_t len = at ? (size_t)(at - key) : strlen(key);

    if (at == key) { /* an instance annotation */
        if (strcmp(key, "@odata.type")) {
            return NULL; /* OData: unknown annotations are ignored */
        }
        return json_is_string(value)
               && !strcmp(json_string_value(value), RA_ENTITY_ODATA_TYPE) ? NULL
               : "Property '@odata.type' must be '" RA_ENTITY_ODATA_TYPE "'.";
    }
    int prop = ra_prop_find(version, key, len);
    if (prop < 0) {
        return unknown_property(pool, key, len);
    }
    if (at) {
        return NULL; /* an annotation of a defined property */
    }
    const char *message = check_value(pool, &props[prop], value);
    if (!message) {
        partner->values[prop] = json_is_string(value)
                                ? apr_pstrdup(pool, json_string_value(value)) : NULL;
        partner->present |= RA_PROP_BIT(prop);
    }
    return message;
}

int ra_entity_decode(apr_pool_t *pool, ra_version_e version, ra_decode_e mode,
                     json_t *body, ra_partner_t *partner, const char **message)
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
    for (int i = 0; mode == RA_DECODE_CREATE && i < RA_PROP_COUNT; i++) {
        if (!(partner->present & RA_PROP_BIT(i))) {
            partner->values[i] = props[i].fallback;
        }
    }
    return 1;
}

void ra_entity_apply(ra_partner_t *target, const ra_partner_t *patch)
{
    for (int i = 0; i < RA_PROP_COUNT; i++) {
        if (i != RA_PROP_ID && (patch->present & RA_PROP_BIT(i))) {
            target->values[i] = patch->values[i];
        }
    }
}

/* {collection_url}('{id}')[suffix] as one string value; an id needs no
 * escaping (ra_entity_id_valid). */
static void write_entity_url(ra_jw_t *jw, const char *collection_url, const char *id,
                             const char *suffix)
{
    ra_jw_string_open(jw);
    ra_jw_string_append(jw, collection_url, strlen(collection_url));
    ra_jw_string_append(jw, "('", 2);
    ra_jw_string_append(jw, id, strlen(id));
    ra_jw_string_append(jw, "')", 2);
    ra_jw_string_append(jw, suffix, strlen(suffix));
    ra_jw_string_close(jw);
}

/* OData JSON 4.0 sections 4.5.8 and 11.5.1: what full metadata adds. */
static void write_full_links(ra_jw_t *jw, const ra_partner_t *partner,
                             const char *collection_url)
{
    static const char *const actions[] = { "beginOnboarding", "disconnect" };

    ra_jw_name(jw, "@odata.id");
    write_entity_url(jw, collection_url, partner->values[RA_PROP_ID], "");
    ra_jw_name(jw, "@odata.editLink");
    write_entity_url(jw, collection_url, partner->values[RA_PROP_ID], "");
    for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
        char name[64];
        apr_snprintf(name, sizeof(name), "#microsoft.graph.%s", actions[i]);
        ra_jw_name(jw, name);
        ra_jw_object_open(jw);
        ra_jw_name(jw, "target");
        apr_snprintf(name, sizeof(name), "/microsoft.graph.%s", actions[i]);
        write_entity_url(jw, collection_url, partner->values[RA_PROP_ID], name);
        ra_jw_object_close(jw);
    }
}

void ra_entity_write(ra_jw_t *jw, const ra_partner_t *partner, ra_version_e version,
                     unsigned select, const char *context_url, const char *collection_url)
{
    int full = collection_url && partner->values[RA_PROP_ID]
               && ra_jw_wants(jw, RA_JW_METADATA_FULL);

    ra_jw_object_open(jw);
    if (context_url) {
        ra_jw_annotation(jw, RA_JW_METADATA_MINIMAL, "@odata.context", context_url);
    }
    /* Graph writes the type at minimal too, though OData would not need it */
    ra_jw_annotation(jw, RA_JW_METADATA_MINIMAL, "@odata.type", RA_ENTITY_ODATA_TYPE);
    if (partner->etag && ra_jw_wants(jw, RA_JW_METADATA_MINIMAL)) {
        ra_jw_name(jw, "@odata.etag");
        ra_jw_string_open(jw);
        ra_jw_string_append(jw, "W/\"", 3);
        ra_jw_string_append(jw, partner->etag, strlen(partner->etag));
        ra_jw_string_append(jw, "\"", 1);
        ra_jw_string_close(jw);
    }
    if (full) {
        write_full_links(jw, partner, collection_url);
    }
    for (int i = 0; i < RA_PROP_COUNT; i++) {
        if (!ra_prop_in_version((ra_prop_e)i, version)
            || (select && !(select & RA_PROP_BIT(i)))) {
            continue;
        }
        if (full && props[i].kind != RA_KIND_STRING && props[i].kind != RA_KIND_ID) {
            char name[64];
            apr_snprintf(name, sizeof(name), "%s@odata.type", props[i].name);
            ra_jw_member_string(jw, name, props[i].kind == RA_KIND_DATETIME
                                          ? "#DateTimeOffset" : "#" RA_ENTITY_STATUS_TYPE);
        }
        ra_jw_member_string(jw, props[i].name, partner->values[i]);
    }
    ra_jw_object_close(jw);
}

#define ETAG_BYTES 12

const char *ra_entity_new_etag(apr_pool_t *pool)
{
    unsigned char raw[ETAG_BYTES];

    if (apr_generate_random_bytes(raw, sizeof(raw)) != APR_SUCCESS) {
        /* the system's random source failed: still unique per write */
        apr_time_t now = apr_time_now();
        memset(raw, 0, sizeof(raw));
        memcpy(raw, &now, sizeof(now) < sizeof(raw) ? sizeof(now) : sizeof(raw));
    }
    return apr_pescape_hex(pool, raw, sizeof(raw), 0);
}

const char *ra_entity_etag_header(apr_pool_t *pool, const char *etag)
{
    return apr_pstrcat(pool, "W/\"", etag, "\"", NULL);
}

int ra_entity_if_match(const char *if_match, const char *etag)
{
    const char *p = if_match;
    size_t len = strlen(etag);

    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',') {
            p++;
        }
        if (*p == '*') {
            return 1;
        }
        if (!strncmp(p, "W/", 2)) {
            p += 2;
        }
        if (*p != '"') {
            return 0; /* not an entity-tag list: nothing matches */
        }
        const char *end = strchr(p + 1, '"');
        if (!end) {
            return 0;
        }
        if ((size_t)(end - p - 1) == len && !strncmp(p + 1, etag, len)) {
            return 1;
        }
        p = end + 1;
    }
    return 0;
}
