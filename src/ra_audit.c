/* Audit events (ra_audit.h). */
#include "ra_audit.h"

#include <stdlib.h>
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

json_t *ra_audit_categories(void)
{
    json_t *list = json_array();
    json_array_append_new(list, json_string(RA_AUDIT_CATEGORY));
    return list;
}

json_t *ra_audit_activity_types(void)
{
    json_t *list = json_array();
    for (int i = 0; i < RA_AUDIT_OPS; i++) {
        json_array_append_new(list, json_string(ops[i].activity));
    }
    return list;
}

/* A property's value as Intune renders it in an auditProperty: a string, or
 * null. */
static json_t *rendered(const char *value)
{
    return value ? json_string(value) : json_null();
}

static int same(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

/* Graph's auditProperty array: one entry per property the change set,
 * changed or removed, in the partner's property order. */
static const char *modified_properties(apr_pool_t *pool, const ra_partner_t *before,
                                       const ra_partner_t *after)
{
    json_t *list = json_array();
    for (int i = 0; i < RA_PROP_COUNT; i++) {
        const char *old_value = before ? before->values[i] : NULL;
        const char *new_value = after ? after->values[i] : NULL;
        if (before && after && same(old_value, new_value)) {
            continue;
        }
        json_t *property = json_object();
        json_object_set_new(property, "displayName", json_string(ra_prop_name((ra_prop_e)i)));
        json_object_set_new(property, "oldValue", rendered(old_value));
        json_object_set_new(property, "newValue", rendered(new_value));
        json_array_append_new(list, property);
    }
    char *text = json_dumps(list, JSON_COMPACT | JSON_PRESERVE_ORDER);
    const char *copy = apr_pstrdup(pool, text);
    free(text);
    json_decref(list);
    return copy;
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
    event->id = ra_odata_new_guid(pool);
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

static json_t *nullable(const char *value)
{
    return value ? json_string(value) : json_null();
}

/* Intune's actor types: an administrator signed in (ItPro), or an
 * application acting as itself. */
static json_t *actor_json(const ra_audit_actor_t *actor)
{
    json_t *out = json_object(), *permissions = json_array();
    const char *type = actor->application ? "Application" : "ItPro";

    /* the space-separated scopes or roles, one string each */
    for (const char *p = actor->permissions ? actor->permissions : ""; *p;) {
        size_t len = strcspn(p, " ");
        if (len > 0) {
            json_array_append_new(permissions, json_stringn(p, len));
        }
        p += len + (p[len] == ' ');
    }
    json_object_set_new(out, "@odata.type", json_string("#microsoft.graph.auditActor"));
    json_object_set_new(out, "type", json_string(type));
    json_object_set_new(out, "auditActorType", json_string(type));
    json_object_set_new(out, "userPermissions", permissions);
    json_object_set_new(out, "applicationId", nullable(actor->app_id));
    json_object_set_new(out, "applicationDisplayName", json_null());
    json_object_set_new(out, "userPrincipalName", nullable(actor->application ? NULL
                                                                                : actor->upn));
    /* an app-only token's principal is the application itself */
    json_object_set_new(out, "servicePrincipalName",
                        nullable(actor->application ? actor->app_id : NULL));
    json_object_set_new(out, "ipAddress", nullable(actor->ip_address));
    json_object_set_new(out, "userId", nullable(actor->application ? NULL : actor->user_id));
    return out;
}

static json_t *resource_json(const ra_audit_event_t *event)
{
    json_t *out = json_object();
    json_t *modified = event->modified ? json_loads(event->modified, 0, NULL) : NULL;

    json_object_set_new(out, "@odata.type", json_string("#microsoft.graph.auditResource"));
    json_object_set_new(out, "displayName", nullable(event->resource_name));
    if (!json_is_array(modified)) {
        json_decref(modified);
        modified = json_array();
    }
    for (size_t i = 0; i < json_array_size(modified); i++) {
        json_object_set_new(json_array_get(modified, i), "@odata.type",
                            json_string("#microsoft.graph.auditProperty"));
    }
    json_object_set_new(out, "modifiedProperties", modified);
    json_object_set_new(out, "type", json_string(RA_AUDIT_RESOURCE_TYPE));
    json_object_set_new(out, "auditResourceType", json_string(RA_AUDIT_RESOURCE_TYPE));
    json_object_set_new(out, "resourceId", nullable(event->resource_id));
    return out;
}

json_t *ra_audit_event_to_json(const ra_audit_event_t *event, const char *context_url)
{
    json_t *out = json_object(), *resources = json_array();

    if (context_url) {
        json_object_set_new(out, "@odata.context", json_string(context_url));
    }
    json_object_set_new(out, "@odata.type", json_string("#" RA_AUDIT_TYPE));
    json_object_set_new(out, "id", json_string(event->id));
    json_object_set_new(out, "displayName", json_string(event->activity));
    json_object_set_new(out, "componentName", json_string(RA_AUDIT_COMPONENT));
    json_object_set_new(out, "actor", actor_json(&event->actor));
    json_object_set_new(out, "activity", json_string(event->activity));
    json_object_set_new(out, "activityDateTime", json_string(event->date_time));
    json_object_set_new(out, "activityType", json_string(event->activity));
    json_object_set_new(out, "activityOperationType", json_string(event->operation_type));
    json_object_set_new(out, "activityResult", json_string("Success"));
    json_object_set_new(out, "correlationId", nullable(event->correlation_id));
    json_array_append_new(resources, resource_json(event));
    json_object_set_new(out, "resources", resources);
    json_object_set_new(out, "category", json_string(RA_AUDIT_CATEGORY));
    return out;
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
    [RA_AUDIT_PROP_CORRELATION_ID] = { "correlationId", RA_KIND_STRING },
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
    static const char hex[] = "0123456789abcdefABCDEF";
    if (strlen(s) != 36) {
        return 0;
    }
    for (int i = 0; i < 36; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !strchr(hex, s[i]) || !s[i]) {
            return 0;
        }
    }
    return 1;
}
