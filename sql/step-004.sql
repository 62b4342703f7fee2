-- Schema level 4 (module 0.4.0): the key that signs $skiptoken (issue 19).
-- Every node of a deployment must take every other node's tokens, across
-- restarts, without configuration: so the key is made once, with the
-- schema, by whoever runs this step (the first node of level 4, or an
-- administrator for a role that may not create tables), from the
-- database's own strong random source (PostgreSQL 13 and later:
-- gen_random_uuid, 244 random bits in two; SQLite: randomblob), and every
-- node reads it at start-up. The module's role needs SELECT on the table.
-- Additive: a new table and its one row. oldest_reader stays 3: a level-3
-- module never reads this table and serves the partners' table unchanged.
-- Only the tokens differ between the two: a nextLink of one is refused
-- (400, invalid $skiptoken) by the other, so a client paging across nodes
-- of both releases in the middle of a rolling upgrade starts its list again.
CREATE TABLE remoteassist_secrets (
    name VARCHAR(64) NOT NULL PRIMARY KEY,
    value VARCHAR(128) NOT NULL
);
INSERT INTO remoteassist_secrets (name, value)
    VALUES ('skiptoken-hmac', replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''));
UPDATE remoteassist_schema SET version = 4;
