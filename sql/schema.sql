-- mod_remoteassist schema: one table, portable between SQLite (>= 3.24) and
-- PostgreSQL. The module runs this statement itself at start-up (it is
-- compiled in from this file); run it by hand only when the database user
-- httpd connects with may not create tables:
--   sqlite3 /var/lib/remoteassist/partners.db < sql/schema.sql
--   psql "host=db dbname=remoteassist" -f sql/schema.sql
-- Date-times are kept as the client sent them (Edm.DateTimeOffset text), so a
-- read returns exactly what was written.
CREATE TABLE IF NOT EXISTS remote_assistance_partners (
    id TEXT PRIMARY KEY,
    display_name TEXT,
    onboarding_url TEXT,
    onboarding_status TEXT
        CHECK (onboarding_status IN ('notOnboarded', 'onboarding', 'onboarded')),
    last_connection_date_time TEXT,
    onboarding_request_expiry_date_time TEXT,
    api_version TEXT NOT NULL,
    created_date_time TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP
)
