-- mod_remoteassist audit events (issue 17): one row per successful change of
-- a partner, written in the same transaction as the change. The PostgreSQL
-- form; the SQLite form (build/audit-sqlite.sql, installed beside it) drops
-- COLLATE "C" as schema.sql's does. The module runs these statements itself
-- at start-up; run them by hand (after schema.sql) only when the database
-- user httpd connects with may not create tables.
-- activity_ticks holds activity_date_time in 100 ns ticks since
-- 0001-01-01Z, for $filter, $orderby and retention; modified_properties the
-- JSON text of Graph's auditProperty array.
CREATE TABLE IF NOT EXISTS remoteassist_audit_events (
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
CREATE INDEX IF NOT EXISTS remoteassist_audit_events_time
    ON remoteassist_audit_events (tenant_id, activity_ticks, id);
CREATE INDEX IF NOT EXISTS remoteassist_audit_events_age
    ON remoteassist_audit_events (activity_ticks);
