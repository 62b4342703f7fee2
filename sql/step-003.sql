-- Schema level 3 (module 0.3.0): the schema-compatibility rule itself.
-- The schema row records, beside the level the tables are at (version), the
-- oldest module level that can serve them (oldest_reader). A module serves a
-- database whose oldest_reader is at most its own level and never changes
-- one above its level; it upgrades one below its level by running the steps
-- in between (sql/step-NNN.sql, each additive). A step raises oldest_reader
-- only when modules of the levels before it could no longer serve the tables
-- correctly. Module 0.2.0 (level 2) refuses every other level, so the step
-- from 0.2.0 to 0.3.0 is a full stop (docs/operations.md, "Schema
-- compatibility and rolling upgrades"); rolling upgrades work from 0.3.0 on.
ALTER TABLE remoteassist_schema ADD COLUMN oldest_reader INTEGER NOT NULL DEFAULT 3;
UPDATE remoteassist_schema SET version = 3, oldest_reader = 3;
