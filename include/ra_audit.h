/* Audit events, as Intune's auditEvent (microsoft.graph): what a successful
 * change of a remoteAssistancePartner records, in the same transaction as
 * the change (ra_store.h writes both), how it is written out (through the
 * streaming JSON writer, the one serializer), and the properties a list of
 * them may filter and sort on. Pure logic over APR and jansson. */
#ifndef RA_AUDIT_H
#define RA_AUDIT_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <jansson.h>

#include "ra_entity.h"
#include "ra_json_writer.h"

#define RA_AUDIT_TYPE "microsoft.graph.auditEvent"
#define RA_AUDIT_TABLE "remoteassist_audit_events"

/* Intune's words for this workload (docs/api.md, "Audit events", says where
 * they come from): the category and component, and the resource type. */
#define RA_AUDIT_CATEGORY "RemoteAssistance"
#define RA_AUDIT_COMPONENT "RemoteAssistance"
#define RA_AUDIT_RESOURCE_TYPE "RemoteAssistancePartner"

/* Retention (RemoteAssistAuditRetention): Intune keeps audit logs a year. */
#define RA_AUDIT_DEFAULT_RETENTION_DAYS 365
#define RA_AUDIT_MAX_RETENTION_DAYS 36500
/* At most this many expired events go per maintenance step, and a child
 * takes a step at most once per RA_AUDIT_PURGE_INTERVAL seconds. */
#define RA_AUDIT_PURGE_BATCH 500
#define RA_AUDIT_PURGE_INTERVAL 60

/* The changes that are audited. */
typedef enum {
    RA_AUDIT_CREATE = 0,
    RA_AUDIT_PATCH,
    RA_AUDIT_DELETE,
    RA_AUDIT_BEGIN_ONBOARDING,
    RA_AUDIT_DISCONNECT,
    RA_AUDIT_OPS
} ra_audit_op_e;

/* "Create RemoteAssistancePartner", ...: activity and activityType. */
const char *ra_audit_activity(ra_audit_op_e op);
/* "Create", "Patch", "Delete" or "Action". */
const char *ra_audit_operation_type(ra_audit_op_e op);

/* getAuditCategories() and getAuditActivityTypes(): the array of the
 * strings this service writes. */
void ra_audit_categories_write(ra_jw_t *jw);
void ra_audit_activity_types_write(ra_jw_t *jw);

/* Who made a change, from the verified token and the connection. */
typedef struct {
    int application;          /* app-only token: no user */
    const char *user_id;      /* oid (else sub) of a delegated token */
    const char *upn;          /* upn, else preferred_username */
    const char *app_id;       /* appid, else azp */
    const char *ip_address;   /* r->useragent_ip */
    const char *permissions;  /* scp, or the roles, space-separated */
} ra_audit_actor_t;

/* One event, as stored: every filterable property in a column of its own,
 * the modified properties as the JSON text of Graph's auditProperty array. */
typedef struct {
    const char *tenant;
    const char *id;
    const char *date_time;    /* activityDateTime, UTC with 7 fraction digits */
    apr_int64_t ticks;        /* the same instant in 100 ns ticks, for sorting */
    const char *activity;     /* also activityType and displayName */
    const char *operation_type;
    const char *correlation_id;
    ra_audit_actor_t actor;
    const char *resource_id;
    const char *resource_name; /* the partner's displayName */
    const char *modified;     /* JSON array of auditProperty */
} ra_audit_event_t;

/* The event of op on a partner: before is NULL for a create, after NULL
 * for a delete. modifiedProperties list every property a create sets or a
 * delete removes, and those an update or action changed, as Intune renders
 * them: strings (null for a value that is null or absent). */
ra_audit_event_t *ra_audit_event_make(apr_pool_t *pool, ra_audit_op_e op, const char *tenant,
                                      const ra_audit_actor_t *actor,
                                      const char *correlation_id, apr_time_t when,
                                      const ra_partner_t *before, const ra_partner_t *after);

/* when in 100 ns ticks since 0001-01-01T00:00:00Z, as activity_ticks. */
apr_int64_t ra_audit_ticks(apr_time_t when);

/* The event as Graph's auditEvent JSON, with @odata.context when
 * context_url is not NULL; the @odata.type of it and of its nested values
 * at the writer's minimal metadata level and above. */
void ra_audit_event_write(ra_jw_t *jw, const ra_audit_event_t *event, const char *context_url);

/* The properties $filter and $orderby may name, indexed like ra_prop_e (the
 * id first: the tie-breaker of every order). */
typedef enum {
    RA_AUDIT_PROP_ID = 0,
    RA_AUDIT_PROP_DATE_TIME,
    RA_AUDIT_PROP_CATEGORY,
    RA_AUDIT_PROP_ACTIVITY_TYPE,
    RA_AUDIT_PROP_OPERATION_TYPE,
    RA_AUDIT_PROP_CORRELATION_ID,
    RA_AUDIT_PROP_COUNT
} ra_audit_prop_e;

const char *ra_audit_prop_name(int prop);
ra_prop_kind_e ra_audit_prop_kind(int prop);
/* The property called name[0..len) (case-sensitive, as OData's), or -1. */
int ra_audit_prop_find(const char *name, size_t len);
/* The event's value of prop, as its column holds it (ticks aside). */
const char *ra_audit_prop_value(const ra_audit_event_t *event, int prop);

/* Whether s may be an event id (a GUID as this service writes them): any
 * other id is a 404 without a look in the database. */
int ra_audit_id_valid(const char *s);

/* An event's correlationId, an Edm.Guid: the client's client-request-id
 * when it is a GUID (in lower case, as Graph writes GUIDs), else the
 * request's own request-id (a GUID too; the response carries both). */
const char *ra_audit_correlation_id(apr_pool_t *pool, const char *client_request_id,
                                    const char *request_id);

#endif
