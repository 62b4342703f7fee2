-- Schema level 5 (issue 17): audit events. One row per successful change of
-- a partner, written in the same transaction as the change; served
-- read-only at deviceManagement/auditEvents. activity_ticks holds
-- activity_date_time in 100 ns ticks since 0001-01-01Z, for $filter,
-- $orderby and retention; modified_properties the JSON text of Graph's
-- auditProperty array.
-- Oldest reader 5: a module of level 3 or 4 writes no events, so serving
-- this database it would make changes without their event, and an audit log
-- that misses changes is not one. Level 5 is therefore a full stop for nodes
-- of an earlier level (docs/operations.md, "Schema compatibility").
CREATE TABLE remoteassist_audit_events (
    tenant_id TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    activity_date_time TEXT NOT NULL,
    activity_ticks BIGINT NOT NULL,
    category TEXT COLLATE "C" NOT NULL,
    activity_type TEXT COLLATE "C" NOT NULL,
    activity_operation_type TEXT COLLATE "C" NOT NULL,
    correlation_id TEXT COLLATE "C" NOT NULL,
    actor_application INTEGER NOT NULL,
    user_id TEXT,
    user_principal_name TEXT,
    application_id TEXT,
    ip_address TEXT,
    user_permissions TEXT,
    resource_id TEXT NOT NULL,
    resource_display_name TEXT,
    modified_properties TEXT NOT NULL,
    CONSTRAINT remoteassist_audit_events_key PRIMARY KEY (tenant_id, id)
);
CREATE INDEX remoteassist_audit_events_time
    ON remoteassist_audit_events (tenant_id, activity_ticks, id);
CREATE INDEX remoteassist_audit_events_age
    ON remoteassist_audit_events (activity_ticks);
UPDATE remoteassist_schema SET version = 5, oldest_reader = 5;
