/* $metadata in CSDL XML and CSDL JSON (ra_csdl.h). Both forms are written
 * from the same tables below and the entity's property table, so they
 * cannot say different things: the XML through libxml2's writer (which
 * escapes), the JSON through jansson. */
#include "ra_csdl.h"

#include <stdlib.h>
#include <string.h>

#include <apr_escape.h>
#include <apr_md5.h>
#include <apr_strings.h>

#include <jansson.h>
#include <libxml/xmlwriter.h>

#include "ra_audit.h"

#define NS "microsoft.graph"
#define ALIAS "graph"
#define CONTAINER "GraphService"
#define CAPABILITIES "Org.OData.Capabilities.V1"
#define CAPABILITIES_URI "https://oasis-tcs.github.io/odata-vocabularies/vocabularies/" \
    CAPABILITIES
#define ENTITY "remoteAssistancePartner"
#define STATUS "remoteAssistanceOnboardingStatus"
#define SINGLETON "deviceManagement"
#define NAVIGATION "remoteAssistancePartners"

/* The properties in the order Microsoft's CSDL declares them (the id is
 * graph.entity's key); responses use ra_prop_e's order. */
static const ra_prop_e declared[] = { RA_PROP_DISPLAY_NAME, RA_PROP_LAST_CONNECTION,
                                      RA_PROP_EXPIRY, RA_PROP_ONBOARDING_STATUS,
                                      RA_PROP_ONBOARDING_URL };

static const char *const actions[] = { "beginOnboarding", "disconnect" };

/* ------------------------------------------------------- the audit events */

#define AUDIT "auditEvent"
#define AUDIT_NAVIGATION "auditEvents"

/* A structural property: its type (Collection(...) for a collection) and
 * nullability, as Microsoft Graph's published v1.0 and beta CSDL declare
 * them for Intune's audit types (learn.microsoft.com/graph/api/resources/
 * intune-auditing-auditevent, -auditactor, -auditresource, -auditproperty;
 * the same in both versions). Graph's OpenAPI description derived from that
 * CSDL leaves only activityDateTime and correlationId not nullable. A
 * collection's Nullable speaks of its items: Graph's CSDL leaves it unsaid,
 * which CSDL 4.0 does not settle and OASIS's converter reads as false; the
 * module never writes a null item, so it says false, explicitly. */
typedef struct {
    const char *name;         /* NULL ends a list */
    const char *type;
    int nullable;
} member_t;

static const member_t audit_event[] = {
    { "displayName", "Edm.String", 1 },
    { "componentName", "Edm.String", 1 },
    { "actor", ALIAS ".auditActor", 1 },
    { "activity", "Edm.String", 1 },
    { "activityDateTime", "Edm.DateTimeOffset", 0 },
    { "activityType", "Edm.String", 1 },
    { "activityOperationType", "Edm.String", 1 },
    { "activityResult", "Edm.String", 1 },
    { "correlationId", "Edm.Guid", 0 },
    { "resources", "Collection(" ALIAS ".auditResource)", 0 },
    { "category", "Edm.String", 1 },
    { NULL, NULL, 0 }
};
static const member_t audit_actor[] = {
    { "type", "Edm.String", 1 },
    { "auditActorType", "Edm.String", 1 },
    { "userPermissions", "Collection(Edm.String)", 0 },
    { "applicationId", "Edm.String", 1 },
    { "applicationDisplayName", "Edm.String", 1 },
    { "userPrincipalName", "Edm.String", 1 },
    { "servicePrincipalName", "Edm.String", 1 },
    { "ipAddress", "Edm.String", 1 },
    { "userId", "Edm.String", 1 },
    { NULL, NULL, 0 }
};
static const member_t audit_resource[] = {
    { "displayName", "Edm.String", 1 },
    { "modifiedProperties", "Collection(" ALIAS ".auditProperty)", 0 },
    { "type", "Edm.String", 1 },
    { "auditResourceType", "Edm.String", 1 },
    { "resourceId", "Edm.String", 1 },
    { NULL, NULL, 0 }
};
static const member_t audit_property[] = {
    { "displayName", "Edm.String", 1 },
    { "oldValue", "Edm.String", 1 },
    { "newValue", "Edm.String", 1 },
    { NULL, NULL, 0 }
};

typedef struct {
    const char *name;
    const member_t *members;
} complex_t;

static const complex_t audit_complex[] = {
    { "auditActor", audit_actor },
    { "auditResource", audit_resource },
    { "auditProperty", audit_property },
};

/* getAuditCategories() and getAuditActivityTypes(), bound to the collection. */
static const char *const audit_functions[] = { "getAuditCategories", "getAuditActivityTypes" };

/* ------------------------------------------- the Capabilities annotations */

/* A term's value: a Boolean, a record of values, a collection of strings, a
 * navigation property path, or the collection of property paths of the
 * auditEvent properties that $filter and $orderby cannot name (derived from
 * ra_audit.h's whitelist, so it cannot drift from what the parser takes). */
typedef enum {
    CAP_BOOL, CAP_RECORD, CAP_STRINGS, CAP_NAVIGATION, CAP_AUDIT_UNQUERYABLE
} cap_kind_e;

typedef struct cap cap_t;
struct cap {
    const char *property;     /* NULL ends a list */
    cap_kind_e kind;
    int value;                /* CAP_BOOL */
    const cap_t *members;     /* CAP_RECORD */
    const char *const *strings; /* CAP_STRINGS, NULL-terminated; CAP_NAVIGATION: [0] */
};

#define BOOL(name, v) { name, CAP_BOOL, v, NULL, NULL }
#define RECORD(name, m) { name, CAP_RECORD, 0, m, NULL }

/* What ra_query.c and the dispatch table implement: $filter on every
 * property with eq/ne/gt/ge/lt/le, and/or/not, in, and these functions;
 * $orderby on every property; $top, $skip, $count, $select; no $search,
 * $expand or $select options inside $select; create, update (PATCH) and
 * delete of each partner. */
static const char *const filter_functions[] = { "startswith", "endswith", "contains", NULL };
static const char *const navigation_path[] = { NAVIGATION, NULL };
static const cap_t filter_restrictions[] = { BOOL("Filterable", 1), { NULL } };
static const cap_t sort_restrictions[] = { BOOL("Sortable", 1), { NULL } };
static const cap_t search_restrictions[] = { BOOL("Searchable", 0), { NULL } };
static const cap_t count_restrictions[] = { BOOL("Countable", 1), { NULL } };
static const cap_t expand_restrictions[] = { BOOL("Expandable", 0), { NULL } };
static const cap_t select_support[] = {
    BOOL("Supported", 1), BOOL("Expandable", 0), BOOL("Filterable", 0), BOOL("Searchable", 0),
    BOOL("TopSupported", 0), BOOL("SkipSupported", 0), BOOL("ComputeSupported", 0),
    BOOL("Countable", 0), BOOL("Sortable", 0), { NULL }
};
static const cap_t insert_restrictions[] = { BOOL("Insertable", 1), { NULL } };
static const cap_t update_restrictions[] = { BOOL("Updatable", 1), { NULL } };
static const cap_t delete_restrictions[] = { BOOL("Deletable", 1), { NULL } };
static const cap_t partners_restriction[] = {
    { "NavigationProperty", CAP_NAVIGATION, 0, NULL, navigation_path },
    { "FilterFunctions", CAP_STRINGS, 0, NULL, filter_functions },
    RECORD("FilterRestrictions", filter_restrictions),
    RECORD("SortRestrictions", sort_restrictions),
    RECORD("SearchRestrictions", search_restrictions),
    RECORD("CountRestrictions", count_restrictions),
    RECORD("ExpandRestrictions", expand_restrictions),
    BOOL("TopSupported", 1),
    BOOL("SkipSupported", 1),
    RECORD("SelectSupport", select_support),
    BOOL("IndexableByKey", 1),
    RECORD("InsertRestrictions", insert_restrictions),
    RECORD("UpdateRestrictions", update_restrictions),
    RECORD("DeleteRestrictions", delete_restrictions),
    { NULL }
};

/* What mod_ra_audit.c serves (docs/api.md "Audit events"): $filter and
 * $orderby on the whitelisted properties only (the same list for both),
 * $top, $skip, $count and $skiptoken; $select refused; read-only. */
static const char *const audit_navigation_path[] = { AUDIT_NAVIGATION, NULL };
static const cap_t audit_filter_restrictions[] = {
    BOOL("Filterable", 1),
    { "NonFilterableProperties", CAP_AUDIT_UNQUERYABLE, 0, NULL, NULL },
    { NULL }
};
static const cap_t audit_sort_restrictions[] = {
    BOOL("Sortable", 1),
    { "NonSortableProperties", CAP_AUDIT_UNQUERYABLE, 0, NULL, NULL },
    { NULL }
};
static const cap_t audit_select_support[] = { BOOL("Supported", 0), { NULL } };
static const cap_t audit_insert_restrictions[] = { BOOL("Insertable", 0), { NULL } };
static const cap_t audit_update_restrictions[] = { BOOL("Updatable", 0), { NULL } };
static const cap_t audit_delete_restrictions[] = { BOOL("Deletable", 0), { NULL } };
static const cap_t audit_restriction[] = {
    { "NavigationProperty", CAP_NAVIGATION, 0, NULL, audit_navigation_path },
    { "FilterFunctions", CAP_STRINGS, 0, NULL, filter_functions },
    RECORD("FilterRestrictions", audit_filter_restrictions),
    RECORD("SortRestrictions", audit_sort_restrictions),
    RECORD("SearchRestrictions", search_restrictions),
    RECORD("CountRestrictions", count_restrictions),
    RECORD("ExpandRestrictions", expand_restrictions),
    BOOL("TopSupported", 1),
    BOOL("SkipSupported", 1),
    RECORD("SelectSupport", audit_select_support),
    BOOL("IndexableByKey", 1),
    RECORD("InsertRestrictions", audit_insert_restrictions),
    RECORD("UpdateRestrictions", audit_update_restrictions),
    RECORD("DeleteRestrictions", audit_delete_restrictions),
    { NULL }
};

static int audit_queryable(const char *name)
{
    return ra_audit_prop_find(name, strlen(name)) >= 0;
}

/* ------------------------------------------------------------------ XML */

typedef struct {
    xmlTextWriterPtr w;
    int failed;
} xml_t;

static void check(xml_t *x, int rc)
{
    x->failed |= rc < 0;
}

static void start(xml_t *x, const char *name)
{
    check(x, xmlTextWriterStartElement(x->w, BAD_CAST name));
}

static void attr(xml_t *x, const char *name, const char *value)
{
    check(x, xmlTextWriterWriteAttribute(x->w, BAD_CAST name, BAD_CAST value));
}

static void end(xml_t *x)
{
    check(x, xmlTextWriterEndElement(x->w));
}

/* A DateTimeOffset without a Precision facet has precision 0 in CSDL XML
 * (OASIS's converter says so too); Graph's values, and what the module
 * accepts and returns, carry up to 7 fractional digits (ra_entity.h). */
#define DATETIME_PRECISION 7

static void xml_property(xml_t *x, apr_pool_t *pool, const char *name, const char *type,
                         int nullable)
{
    start(x, "Property");
    attr(x, "Name", name);
    attr(x, "Type", type);
    if (!nullable) { /* CSDL XML's Nullable defaults to true */
        attr(x, "Nullable", "false");
    }
    if (!strcmp(type, "Edm.DateTimeOffset")) {
        attr(x, "Precision", apr_itoa(pool, DATETIME_PRECISION));
    }
    end(x);
}

static void xml_record(xml_t *x, const cap_t *members);

static void xml_value(xml_t *x, const cap_t *cap)
{
    switch (cap->kind) {
    case CAP_BOOL:
        attr(x, "Bool", cap->value ? "true" : "false");
        break;
    case CAP_NAVIGATION:
        attr(x, "NavigationPropertyPath", cap->strings[0]);
        break;
    case CAP_RECORD:
        xml_record(x, cap->members);
        break;
    case CAP_STRINGS:
        start(x, "Collection");
        for (const char *const *s = cap->strings; *s; s++) {
            check(x, xmlTextWriterWriteElement(x->w, BAD_CAST "String", BAD_CAST *s));
        }
        end(x);
        break;
    case CAP_AUDIT_UNQUERYABLE:
        start(x, "Collection");
        for (const member_t *m = audit_event; m->name; m++) {
            if (!audit_queryable(m->name)) {
                check(x, xmlTextWriterWriteElement(x->w, BAD_CAST "PropertyPath",
                                                   BAD_CAST m->name));
            }
        }
        end(x);
        break;
    }
}

static void xml_record(xml_t *x, const cap_t *members)
{
    start(x, "Record");
    for (const cap_t *m = members; m->property; m++) {
        start(x, "PropertyValue");
        attr(x, "Property", m->property);
        xml_value(x, m);
        end(x);
    }
    end(x);
}

static const char *type_name(apr_pool_t *pool, ra_prop_e prop, const char *prefix)
{
    switch (ra_prop_kind(prop)) {
    case RA_KIND_STATUS: return apr_pstrcat(pool, prefix, "." STATUS, NULL);
    case RA_KIND_DATETIME: return "Edm.DateTimeOffset";
    default: return "Edm.String";
    }
}

static void xml_members(xml_t *x, apr_pool_t *pool, const member_t *members)
{
    for (const member_t *m = members; m->name; m++) {
        xml_property(x, pool, m->name, m->type, m->nullable);
    }
}

/* auditEvent, its complex types and its two functions */
static void xml_audit_types(xml_t *x, apr_pool_t *pool)
{
    start(x, "EntityType");
    attr(x, "Name", AUDIT);
    attr(x, "BaseType", ALIAS ".entity");
    xml_members(x, pool, audit_event);
    end(x);
    for (size_t i = 0; i < sizeof(audit_complex) / sizeof(audit_complex[0]); i++) {
        start(x, "ComplexType");
        attr(x, "Name", audit_complex[i].name);
        xml_members(x, pool, audit_complex[i].members);
        end(x);
    }
    for (size_t i = 0; i < sizeof(audit_functions) / sizeof(audit_functions[0]); i++) {
        start(x, "Function");
        attr(x, "Name", audit_functions[i]);
        attr(x, "IsBound", "true");
        start(x, "Parameter");
        attr(x, "Name", "bindingParameter");
        attr(x, "Type", "Collection(" ALIAS "." AUDIT ")");
        end(x);
        start(x, "ReturnType");
        attr(x, "Type", "Collection(Edm.String)");
        attr(x, "Nullable", "false"); /* the strings are never null */
        end(x);
        end(x);
    }
}

static const char *build_xml(apr_pool_t *pool, ra_version_e version, int audit,
                             apr_size_t *len)
{
    xmlBufferPtr buffer = xmlBufferCreate();
    xml_t x = { buffer ? xmlNewTextWriterMemory(buffer, 0) : NULL, 0 };
    const char *out = NULL;

    if (!x.w) {
        xmlBufferFree(buffer);
        return NULL;
    }
    check(&x, xmlTextWriterSetIndent(x.w, 1));
    check(&x, xmlTextWriterStartDocument(x.w, "1.0", "utf-8", NULL));
    start(&x, "edmx:Edmx");
    attr(&x, "Version", "4.0");
    attr(&x, "xmlns:edmx", "http://docs.oasis-open.org/odata/ns/edmx");
    start(&x, "edmx:Reference");
    attr(&x, "Uri", CAPABILITIES_URI ".xml");
    start(&x, "edmx:Include");
    attr(&x, "Namespace", CAPABILITIES);
    attr(&x, "Alias", "Capabilities");
    end(&x);
    end(&x);
    start(&x, "edmx:DataServices");
    start(&x, "Schema");
    attr(&x, "Namespace", NS);
    attr(&x, "Alias", ALIAS);
    attr(&x, "xmlns", "http://docs.oasis-open.org/odata/ns/edm");

    start(&x, "EnumType");
    attr(&x, "Name", STATUS);
    for (int i = 0; i < RA_ENTITY_STATUS_MEMBERS; i++) {
        start(&x, "Member");
        attr(&x, "Name", ra_entity_status_member(i));
        attr(&x, "Value", apr_itoa(pool, i));
        end(&x);
    }
    end(&x);

    start(&x, "EntityType");
    attr(&x, "Name", "entity");
    attr(&x, "Abstract", "true");
    start(&x, "Key");
    start(&x, "PropertyRef");
    attr(&x, "Name", ra_prop_name(RA_PROP_ID));
    end(&x);
    end(&x);
    xml_property(&x, pool, ra_prop_name(RA_PROP_ID), "Edm.String", 0);
    end(&x);

    start(&x, "EntityType");
    attr(&x, "Name", SINGLETON);
    attr(&x, "BaseType", ALIAS ".entity");
    start(&x, "NavigationProperty");
    attr(&x, "Name", NAVIGATION);
    attr(&x, "Type", "Collection(" ALIAS "." ENTITY ")");
    attr(&x, "ContainsTarget", "true");
    end(&x);
    if (audit) {
        start(&x, "NavigationProperty");
        attr(&x, "Name", AUDIT_NAVIGATION);
        attr(&x, "Type", "Collection(" ALIAS "." AUDIT ")");
        attr(&x, "ContainsTarget", "true");
        end(&x);
    }
    end(&x);

    start(&x, "EntityType");
    attr(&x, "Name", ENTITY);
    attr(&x, "BaseType", ALIAS ".entity");
    for (size_t i = 0; i < sizeof(declared) / sizeof(declared[0]); i++) {
        if (ra_prop_in_version(declared[i], version)) {
            xml_property(&x, pool, ra_prop_name(declared[i]),
                         type_name(pool, declared[i], ALIAS), ra_prop_nullable(declared[i]));
        }
    }
    end(&x);

    for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
        start(&x, "Action");
        attr(&x, "Name", actions[i]);
        attr(&x, "IsBound", "true");
        start(&x, "Parameter");
        attr(&x, "Name", "bindingParameter");
        attr(&x, "Type", ALIAS "." ENTITY);
        end(&x);
        end(&x);
    }
    if (audit) {
        xml_audit_types(&x, pool);
    }

    start(&x, "EntityContainer");
    attr(&x, "Name", CONTAINER);
    start(&x, "Singleton");
    attr(&x, "Name", SINGLETON);
    attr(&x, "Type", ALIAS "." SINGLETON);
    end(&x);
    end(&x);

    start(&x, "Annotations");
    attr(&x, "Target", ALIAS "." CONTAINER "/" SINGLETON);
    start(&x, "Annotation");
    attr(&x, "Term", "Capabilities.NavigationRestrictions");
    start(&x, "Record");
    start(&x, "PropertyValue");
    attr(&x, "Property", "RestrictedProperties");
    start(&x, "Collection");
    xml_record(&x, partners_restriction);
    if (audit) {
        xml_record(&x, audit_restriction);
    }
    check(&x, xmlTextWriterEndDocument(x.w)); /* closes every open element */
    xmlFreeTextWriter(x.w);

    if (!x.failed) {
        *len = (apr_size_t)xmlBufferLength(buffer);
        out = apr_pstrmemdup(pool, (const char *)xmlBufferContent(buffer), *len);
    }
    xmlBufferFree(buffer);
    return out;
}

/* ----------------------------------------------------------------- JSON */

static json_t *json_record(const cap_t *members);

static json_t *json_value(const cap_t *cap)
{
    json_t *list;
    switch (cap->kind) {
    case CAP_BOOL:
        return json_boolean(cap->value);
    case CAP_NAVIGATION:
        return json_string(cap->strings[0]);
    case CAP_RECORD:
        return json_record(cap->members);
    case CAP_STRINGS:
        list = json_array();
        for (const char *const *s = cap->strings; *s; s++) {
            json_array_append_new(list, json_string(*s));
        }
        return list;
    case CAP_AUDIT_UNQUERYABLE:
        list = json_array();
        for (const member_t *m = audit_event; m->name; m++) {
            if (!audit_queryable(m->name)) {
                json_array_append_new(list, json_string(m->name));
            }
        }
        return list;
    }
    return NULL;
}

static json_t *json_record(const cap_t *members)
{
    json_t *record = json_object();
    for (const cap_t *m = members; m->property; m++) {
        json_object_set_new(record, m->property, json_value(m));
    }
    return record;
}

/* CSDL JSON's defaults differ from XML's: $Type is Edm.String and $Nullable
 * false unless said; a collection is $Collection with its item type. */
static json_t *json_typed(const char *type, int nullable)
{
    static const char collection[] = "Collection(";
    json_t *member = json_object();
    size_t len = strlen(type);
    if (!strncmp(type, collection, sizeof(collection) - 1)) {
        json_object_set_new(member, "$Collection", json_true());
        type += sizeof(collection) - 1;
        len -= sizeof(collection); /* the prefix and the closing parenthesis */
    }
    if (len != strlen("Edm.String") || strncmp(type, "Edm.String", len)) {
        json_object_set_new(member, "$Type", json_stringn(type, len));
    }
    if (nullable) {
        json_object_set_new(member, "$Nullable", json_true());
    }
    if (!strcmp(type, "Edm.DateTimeOffset")) {
        json_object_set_new(member, "$Precision", json_integer(DATETIME_PRECISION));
    }
    return member;
}

static json_t *json_members(json_t *o, const member_t *members)
{
    for (const member_t *m = members; m->name; m++) {
        json_object_set_new(o, m->name, json_typed(m->type, m->nullable));
    }
    return o;
}

/* auditEvent, its complex types and its two functions, as xml_audit_types */
static void json_audit_types(json_t *schema)
{
    json_object_set_new(schema, AUDIT,
                        json_members(json_pack("{s:s,s:s}", "$Kind", "EntityType",
                                               "$BaseType", ALIAS ".entity"),
                                     audit_event));
    for (size_t i = 0; i < sizeof(audit_complex) / sizeof(audit_complex[0]); i++) {
        json_object_set_new(schema, audit_complex[i].name,
                            json_members(json_pack("{s:s}", "$Kind", "ComplexType"),
                                         audit_complex[i].members));
    }
    for (size_t i = 0; i < sizeof(audit_functions) / sizeof(audit_functions[0]); i++) {
        json_object_set_new(schema, audit_functions[i],
                            /* the binding collection's Nullable is unsaid in
                             * both forms, as for the properties above */
                            json_pack("[{s:s,s:b,s:[{s:s,s:b,s:s}],s:{s:b}}]", "$Kind",
                                      "Function", "$IsBound", 1, "$Parameter", "$Name",
                                      "bindingParameter", "$Collection", 1, "$Type",
                                      ALIAS "." AUDIT, "$ReturnType", "$Collection", 1));
    }
}

static const char *build_json(apr_pool_t *pool, ra_version_e version, int audit,
                              apr_size_t *len)
{
    json_t *doc = json_object(), *schema = json_object(), *o, *p;

    json_object_set_new(doc, "$Version", json_string("4.0"));
    json_object_set_new(doc, "$EntityContainer", json_string(NS "." CONTAINER));
    o = json_object();
    p = json_object();
    json_object_set_new(p, "$Namespace", json_string(CAPABILITIES));
    json_object_set_new(p, "$Alias", json_string("Capabilities"));
    /* each form references the vocabulary's document in the same form */
    json_object_set_new(o, CAPABILITIES_URI ".json", json_pack("{s:[o]}", "$Include", p));
    json_object_set_new(doc, "$Reference", o);
    json_object_set_new(doc, NS, schema);
    json_object_set_new(schema, "$Alias", json_string(ALIAS));

    o = json_pack("{s:s}", "$Kind", "EnumType");
    for (int i = 0; i < RA_ENTITY_STATUS_MEMBERS; i++) {
        json_object_set_new(o, ra_entity_status_member(i), json_integer(i));
    }
    json_object_set_new(schema, STATUS, o);

    o = json_pack("{s:s,s:b,s:[s]}", "$Kind", "EntityType", "$Abstract", 1, "$Key",
                  ra_prop_name(RA_PROP_ID));
    json_object_set_new(o, ra_prop_name(RA_PROP_ID), json_typed("Edm.String", 0));
    json_object_set_new(schema, "entity", o);

    o = json_pack("{s:s,s:s}", "$Kind", "EntityType", "$BaseType", ALIAS ".entity");
    json_object_set_new(o, NAVIGATION,
                        json_pack("{s:s,s:b,s:s,s:b}", "$Kind", "NavigationProperty",
                                  "$Collection", 1, "$Type", ALIAS "." ENTITY,
                                  "$ContainsTarget", 1));
    if (audit) {
        json_object_set_new(o, AUDIT_NAVIGATION,
                            json_pack("{s:s,s:b,s:s,s:b}", "$Kind", "NavigationProperty",
                                      "$Collection", 1, "$Type", ALIAS "." AUDIT,
                                      "$ContainsTarget", 1));
    }
    json_object_set_new(schema, SINGLETON, o);

    o = json_pack("{s:s,s:s}", "$Kind", "EntityType", "$BaseType", ALIAS ".entity");
    for (size_t i = 0; i < sizeof(declared) / sizeof(declared[0]); i++) {
        if (ra_prop_in_version(declared[i], version)) {
            json_object_set_new(o, ra_prop_name(declared[i]),
                                json_typed(type_name(pool, declared[i], ALIAS),
                                           ra_prop_nullable(declared[i])));
        }
    }
    json_object_set_new(schema, ENTITY, o);

    for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
        /* XML's binding parameter above is nullable by default: said here */
        json_object_set_new(schema, actions[i],
                            json_pack("[{s:s,s:b,s:[{s:s,s:s,s:b}]}]", "$Kind", "Action",
                                      "$IsBound", 1, "$Parameter", "$Name",
                                      "bindingParameter", "$Type", ALIAS "." ENTITY,
                                      "$Nullable", 1));
    }
    if (audit) {
        json_audit_types(schema);
    }

    json_object_set_new(schema, CONTAINER,
                        json_pack("{s:s,s:{s:s}}", "$Kind", "EntityContainer", SINGLETON,
                                  "$Type", ALIAS "." SINGLETON));
    p = json_pack("[o]", json_record(partners_restriction));
    if (audit) {
        json_array_append_new(p, json_record(audit_restriction));
    }
    json_object_set_new(schema, "$Annotations",
                        json_pack("{s:{s:{s:o}}}", ALIAS "." CONTAINER "/" SINGLETON,
                                  "@Capabilities.NavigationRestrictions",
                                  "RestrictedProperties", p));

    char *text = json_dumps(doc, JSON_INDENT(1) | JSON_ENSURE_ASCII);
    json_decref(doc);
    if (!text) {
        return NULL;
    }
    *len = strlen(text);
    const char *out = apr_pstrmemdup(pool, text, *len);
    free(text);
    return out;
}

const ra_csdl_t *ra_csdl_build(apr_pool_t *pool, ra_version_e version, int audit)
{
    ra_csdl_t *csdl = apr_pcalloc(pool, sizeof(*csdl));
    unsigned char digest[APR_MD5_DIGESTSIZE];
    apr_md5_ctx_t md5;

    csdl->xml = build_xml(pool, version, audit, &csdl->xml_len);
    csdl->json = build_json(pool, version, audit, &csdl->json_len);
    if (!csdl->xml || !csdl->json) {
        return NULL;
    }
    /* a validator, not a secret: MD5 of both forms names this build */
    apr_md5_init(&md5);
    apr_md5_update(&md5, csdl->xml, csdl->xml_len);
    apr_md5_update(&md5, csdl->json, csdl->json_len);
    apr_md5_final(digest, &md5);
    csdl->etag = apr_pescape_hex(pool, digest, sizeof(digest), 0);
    return csdl;
}
