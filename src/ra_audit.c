/* Audit events (ra_audit.h). */
#include "ra_audit.h"

#include <string.h>

#include <apr_strings.h>
#include <apr_time.h>

#include "ra_odata.h"

static const struct {
    const char *activity;
    const char *operation_type;
} ops[RA_AUDIT_OPS] = {
    [RA_AUDIT_CREATE] = { "Create " RA_AUDIT_RESOURCE_TYPE, "Create" },
    [RA_AUDIT_PATCH] = { "Patch " RA_AUDIT_RESOURCE_TYPE, "Patch" },
    [RA_AUDIT_DELETE] = { "Delete " RA_AUDIT_RESOURCE_TYPE, "Delete" },
    [RA_AUDIT_BEGIN_ONBOARDING] = { "BeginOnboarding " RA_AUDIT_RESOURCE_TYPE, "Action" },
    [RA_AUDIT_DISCONNECT] = { "Disconnect " RA_AUDIT_RESOURCE_TYPE, "Action" },
};

const char *ra_audit_activity(ra_audit_op_e op)
{
    return ops[op].activity;
}

const char *ra_audit_operation_type(ra_audit_op_e op)
{
    return ops[op].operation_type;
}

void ra_audit_categories_write(ra_jw_t *jw)
{
    ra_jw_array_open(jw);
    ra_jw_string(jw, RA_AUDIT_CATEGORY);
    ra_jw_array_close(jw);
}

void ra_audit_activity_types_write(ra_jw_t *jw)
{
    ra_jw_array_open(jw);
    for (int i = 0; i < RA_AUDIT_OPS; i++) {
        ra_jw_string(jw, ops[i].activity);
    }
    ra_jw_array_close(jw);
}

static int same(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

/* Graph's auditProperty array, as stored: one entry per property the change
 * set, changed or removed, in the partner's property order, its values as
 * Intune renders them (strings, null for a null or absent value). Written
 * by the one serializer, into text. */
static const char *modified_properties(apr_pool_t *pool, const ra_partner_t *before,
                                       const ra_partner_t *after)
{
    ra_jw_text_t text = { .pool = pool };
    ra_jw_t jw;

    ra_jw_init(&jw, ra_jw_text_sink, &text);
    ra_jw_array_open(&jw);
    for (int i = 0; i < RA_PROP_COUNT; i++) {
        const char *old_value = before ? before->values[i] : NULL;
        const char *new_value = after ? after->values[i] : NULL;
        if (before && after && same(old_value, new_value)) {
            continue;
        }
        ra_jw_object_open(&jw);
        ra_jw_member_string(&jw, "displayName", ra_prop_name((ra_prop_e)i));
        ra_jw_member_string(&jw, "oldValue", old_value);
        ra_jw_member_string(&jw, "newValue", new_value);
        ra_jw_object_close(&jw);
    }
    ra_jw_array_close(&jw);
    return ra_jw_finish(&jw) == APR_SUCCESS ? text.text : "[]";
}

/* when, as Graph writes instants: UTC with seven fraction digits */
static void format_instant(char *out, size_t size, apr_time_t when)
{
    apr_time_exp_t t;
    apr_time_exp_gmt(&t, when);
    apr_snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d.%07dZ", t.tm_year + 1900,
                 t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, t.tm_usec * 10);
}

static const char *graph_instant(apr_pool_t *pool, apr_time_t when)
{
    char text[40];
    format_instant(text, sizeof(text), when);
    return apr_pstrdup(pool, text);
}

apr_int64_t ra_audit_ticks(apr_time_t when)
{
    apr_int64_t ticks = 0;
    char text[40];
    format_instant(text, sizeof(text), when);
    ra_entity_datetime_parse(text, &ticks);
    return ticks;
}

ra_audit_event_t *ra_audit_event_make(apr_pool_t *pool, ra_audit_op_e op, const char *tenant,
                                      const ra_audit_actor_t *actor,
                                      const char *correlation_id, apr_time_t when,
                                      const ra_partner_t *before, const ra_partner_t *after)
{
    ra_audit_event_t *event = apr_pcalloc(pool, sizeof(*event));
    const ra_partner_t *partner = after ? after : before;

    event->tenant = tenant;
    event->id = ra_odata_new_time_guid(pool);
    event->date_time = graph_instant(pool, when);
    ra_entity_datetime_parse(event->date_time, &event->ticks);
    event->activity = ops[op].activity;
    event->operation_type = ops[op].operation_type;
    event->correlation_id = correlation_id;
    event->actor = *actor;
    event->resource_id = partner->values[RA_PROP_ID];
    event->resource_name = partner->values[RA_PROP_DISPLAY_NAME];
    event->modified = modified_properties(pool, before, after);
    return event;
}

/* Intune's actor types: an administrator signed in (ItPro), or an
 * application acting as itself. */
static void write_actor(ra_jw_t *jw, const ra_audit_actor_t *actor)
{
    const char *type = actor->application ? "Application" : "ItPro";

    ra_jw_object_open(jw);
    ra_jw_annotation(jw, RA_JW_METADATA_MINIMAL, "@odata.type", "#microsoft.graph.auditActor");
    ra_jw_member_string(jw, "type", type);
    ra_jw_member_string(jw, "auditActorType", type);
    /* the space-separated scopes or roles, one string each */
    ra_jw_name(jw, "userPermissions");
    ra_jw_array_open(jw);
    for (const char *p = actor->permissions ? actor->permissions : ""; *p;) {
        size_t len = strcspn(p, " ");
        if (len > 0) {
            ra_jw_stringn(jw, p, len);
        }
        p += len + (p[len] == ' ');
    }
    ra_jw_array_close(jw);
    ra_jw_member_string(jw, "applicationId", actor->app_id);
    ra_jw_member_string(jw, "applicationDisplayName", NULL); /* tokens do not carry it */
    ra_jw_member_string(jw, "userPrincipalName", actor->application ? NULL : actor->upn);
    /* an app-only token's principal is the application itself */
    ra_jw_member_string(jw, "servicePrincipalName", actor->application ? actor->app_id : NULL);
    ra_jw_member_string(jw, "ipAddress", actor->ip_address);
    ra_jw_member_string(jw, "userId", actor->application ? NULL : actor->user_id);
    ra_jw_object_close(jw);
}

/* The stored auditProperty array (jansson parses it, as every JSON the
 * module reads), each with its type; anything but an array of objects is
 * written as no property at all. */
static void write_modified(ra_jw_t *jw, const char *stored)
{
    static const char *const members[] = { "displayName", "oldValue", "newValue" };
    json_t *list = stored ? json_loads(stored, 0, NULL) : NULL;

    ra_jw_array_open(jw);
    for (size_t i = 0; json_is_array(list) && i < json_array_size(list); i++) {
        json_t *property = json_array_get(list, i);
        if (!json_is_object(property)) {
            continue;
        }
        ra_jw_object_open(jw);
        ra_jw_annotation(jw, RA_JW_METADATA_MINIMAL, "@odata.type",
                         "#microsoft.graph.auditProperty");
        for (size_t m = 0; m < sizeof(members) / sizeof(members[0]); m++) {
            json_t *value = json_object_get(property, members[m]);
            ra_jw_name(jw, members[m]);
            if (value) {
                ra_jw_json(jw, value);
            }
            else {
                ra_jw_null(jw);
            }
        }
        ra_jw_object_close(jw);
    }
    ra_jw_array_close(jw);
    json_decref(list);
}

static void write_resource(ra_jw_t *jw, const ra_audit_event_t *event)
{
    ra_jw_object_open(jw);
    ra_jw_annotation(jw, RA_JW_METADATA_MINIMAL, "@odata.type",
                     "#microsoft.graph.auditResource");
    ra_jw_member_string(jw, "displayName", event->resource_name);
    ra_jw_name(jw, "modifiedProperties");
    write_modified(jw, event->modified);
    ra_jw_member_string(jw, "type", RA_AUDIT_RESOURCE_TYPE);
    ra_jw_member_string(jw, "auditResourceType", RA_AUDIT_RESOURCE_TYPE);
    ra_jw_member_string(jw, "resourceId", event->resource_id);
    ra_jw_object_close(jw);
}

void ra_audit_event_write(ra_jw_t *jw, const ra_audit_event_t *event, const char *context_url)
{
    ra_jw_object_open(jw);
    if (context_url) {
        ra_jw_annotation(jw, RA_JW_METADATA_MINIMAL, "@odata.context", context_url);
    }
    ra_jw_annotation(jw, RA_JW_METADATA_MINIMAL, "@odata.type", "#" RA_AUDIT_TYPE);
    ra_jw_member_string(jw, "id", event->id);
    ra_jw_member_string(jw, "displayName", event->activity);
    ra_jw_member_string(jw, "componentName", RA_AUDIT_COMPONENT);
    ra_jw_name(jw, "actor");
    write_actor(jw, &event->actor);
    ra_jw_member_string(jw, "activity", event->activity);
    ra_jw_member_string(jw, "activityDateTime", event->date_time);
    ra_jw_member_string(jw, "activityType", event->activity);
    ra_jw_member_string(jw, "activityOperationType", event->operation_type);
    ra_jw_member_string(jw, "activityResult", "Success");
    ra_jw_member_string(jw, "correlationId", event->correlation_id);
    ra_jw_name(jw, "resources");
    ra_jw_array_open(jw);
    write_resource(jw, event);
    ra_jw_array_close(jw);
    ra_jw_member_string(jw, "category", RA_AUDIT_CATEGORY);
    ra_jw_object_close(jw);
}

static const struct {
    const char *name;
    ra_prop_kind_e kind;
} props[RA_AUDIT_PROP_COUNT] = {
    [RA_AUDIT_PROP_ID] = { "id", RA_KIND_ID },
    [RA_AUDIT_PROP_DATE_TIME] = { "activityDateTime", RA_KIND_DATETIME },
    [RA_AUDIT_PROP_CATEGORY] = { "category", RA_KIND_STRING },
    [RA_AUDIT_PROP_ACTIVITY_TYPE] = { "activityType", RA_KIND_STRING },
    [RA_AUDIT_PROP_OPERATION_TYPE] = { "activityOperationType", RA_KIND_STRING },
    [RA_AUDIT_PROP_CORRELATION_ID] = { "correlationId", RA_KIND_GUID },
};

const char *ra_audit_prop_name(int prop)
{
    return props[prop].name;
}

ra_prop_kind_e ra_audit_prop_kind(int prop)
{
    return props[prop].kind;
}

int ra_audit_prop_find(const char *name, size_t len)
{
    for (int i = 0; i < RA_AUDIT_PROP_COUNT; i++) {
        if (strlen(props[i].name) == len && !strncmp(props[i].name, name, len)) {
            return i;
        }
    }
    return -1;
}

const char *ra_audit_prop_value(const ra_audit_event_t *event, int prop)
{
    switch ((ra_audit_prop_e)prop) {
    case RA_AUDIT_PROP_ID: return event->id;
    case RA_AUDIT_PROP_DATE_TIME: return event->date_time;
    case RA_AUDIT_PROP_CATEGORY: return RA_AUDIT_CATEGORY;
    case RA_AUDIT_PROP_ACTIVITY_TYPE: return event->activity;
    case RA_AUDIT_PROP_OPERATION_TYPE: return event->operation_type;
    case RA_AUDIT_PROP_CORRELATION_ID: return event->correlation_id;
    default: return NULL;
    }
}

int ra_audit_id_valid(const char *s)
{
    return strlen(s) == 36 && ra_odata_guid_at(s);
}

const char *ra_audit_correlation_id(apr_pool_t *pool, const char *client_request_id,
                                    const char *request_id)
{
    return client_request_id && ra_audit_id_valid(client_request_id)
           ? ra_odata_lower(pool, client_request_id, 36) : request_id;
}
