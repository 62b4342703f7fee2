-- Rebuilds the partners' table of a SQLite database made before the module
-- kept it in key order (WITHOUT ROWID; docs/operations.md, "SQLite: partners
-- kept in key order"). Not a schema step: the table keeps its name, columns,
-- key and rows, and every module level reads it alike. Run it with every
-- httpd on the file stopped, as httpd's User, from a directory with room for
-- a second copy of the table and as much again in WAL:
--   sudo -u www-data sqlite3 /var/lib/remoteassist/partners.db \
--       < /usr/share/libapache2-mod-remoteassist/sqlite-partners-by-key.sql
-- It is one transaction: interrupted, it leaves the file as it was. The
-- VACUUM at the end gives the old table's pages back to the disk.
-- The table's definition is sql/schema.sql's (a unit test holds the two
-- alike).
BEGIN IMMEDIATE;
CREATE TABLE remote_assistance_partners_by_key (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    display_name TEXT,
    onboarding_url TEXT,
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
)
WITHOUT ROWID;
INSERT INTO remote_assistance_partners_by_key SELECT * FROM remote_assistance_partners;
DROP TABLE remote_assistance_partners;
ALTER TABLE remote_assistance_partners_by_key RENAME TO remote_assistance_partners;
COMMIT;
VACUUM;
