-- Schema level 5 (module 0.5.0): audit events (issue 17). One row per successful change of
-- a partner, written in the same transaction as the change; served
-- read-only at deviceManagement/auditEvents. activity_ticks holds
-- activity_date_time in 100 ns ticks since 0001-01-01Z, for $filter,
-- $orderby and retention; modified_properties the JSON text of Graph's
-- auditProperty array.
-- Additive: a new table and its indexes. oldest_reader stays 3: a module of
-- level 3 or 4 never reads this table and serves the partners as before, so
-- the upgrade rolls. Its changes write no event, so the log is complete for
-- every change made once the last node runs level 5; until then the older
-- nodes say so at start-up (RA00078) and docs/operations.md ("Schema
-- compatibility") says to finish the rolling upgrade before relying on it.
-- A full stop would keep that window closed at the price of downtime; an
-- administrator who needs that stops every node first.
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
UPDATE remoteassist_schema SET version = 5;
