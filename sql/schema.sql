-- mod_remoteassist schema, level 2 (module 0.2.0): partners kept per tenant.
-- The tables of a fresh database are this file followed by each
-- sql/step-NNN.sql in order (the levels after 2, each an additive change);
-- the module runs exactly those statements (they are compiled in), and a
-- database at a lower level gets the steps it lacks. This is the PostgreSQL
-- form; the SQLite form is the same without COLLATE "C", SQLite's own
-- default. The package installs both forms whole (schema-pgsql.sql,
-- schema-sqlite.sql: this file and every step) and each step alone
-- (step-NNN-pgsql.sql, ...). Run them by hand only when the database role
-- httpd connects with may not create or alter tables:
--   psql "host=db dbname=remoteassist" -f schema-pgsql.sql
--   sqlite3 /var/lib/remoteassist/partners.db < schema-sqlite.sql
-- Date-times are kept as the client sent them (Edm.DateTimeOffset text), so a
-- read returns exactly what was written; the *_ticks columns hold the same
-- instants in 100 ns ticks since 0001-01-01Z, for $filter and $orderby.
-- Strings compare by code point ("C") on both databases, so both order alike.
CREATE TABLE IF NOT EXISTS remote_assistance_partners (
    tenant_id TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    display_name TEXT COLLATE "C",
    onboarding_url TEXT COLLATE "C",
    onboarding_status TEXT NOT NULL
        CHECK (onboarding_status IN ('notOnboarded', 'onboarding', 'onboarded')),
    last_connection_date_time TEXT NOT NULL,
    last_connection_ticks BIGINT NOT NULL,
    onboarding_request_expiry_date_time TEXT NOT NULL,
    onboarding_request_expiry_ticks BIGINT NOT NULL,
    etag TEXT NOT NULL,
    api_version TEXT NOT NULL,
    created_date_time TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT remote_assistance_partners_key PRIMARY KEY (tenant_id, id)
);
CREATE TABLE IF NOT EXISTS remoteassist_schema (
    version INTEGER NOT NULL
);
INSERT INTO remoteassist_schema (version)
    SELECT 2 WHERE NOT EXISTS (SELECT 1 FROM remoteassist_schema);
