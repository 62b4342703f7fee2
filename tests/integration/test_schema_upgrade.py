"""A database written by version 0.1 of the module (schema version 1: no
tenants, nullable status and date-times) is upgraded in place at start-up,
on SQLite and PostgreSQL: every row is kept, goes to the tenant
RemoteAssistLegacyTenant names, and reads back with Intune's defaults; none
becomes visible to another tenant. Without the directive, start-up fails,
naming it and the row count, and the database is left as it was."""
import contextlib
import os
import sqlite3
import subprocess
import threading
import time
import uuid

import pytest
import requests

from conftest import OLDEST_READER, ROOT, SCHEMA_LEVEL, Backend, Httpd, make_service, sqlite_db
from httpd_harness import children_db, give_to_run_user
from graph_calls import Caller

# sql/schema.sql as version 0.1 shipped it (commit 7b9b737)
SCHEMA_V1 = """CREATE TABLE remote_assistance_partners (
    id TEXT PRIMARY KEY,
    display_name TEXT,
    onboarding_url TEXT,
    onboarding_status TEXT
        CHECK (onboarding_status IN ('notOnboarded', 'onboarding', 'onboarded')),
    last_connection_date_time TEXT,
    onboarding_request_expiry_date_time TEXT,
    api_version TEXT NOT NULL,
    created_date_time TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP
)"""

ROWS_V1 = [  # id, displayName, onboardingUrl, status, last connection, expiry, version
    ("full", "Full partner", "https://full.example/", "onboarded",
     "2016-12-31T23:58:36.6670033-08:00", "2017-01-01T00:02:07.7573274-08:00", "beta"),
    ("nulls", None, None, None, None, None, "v1.0"),
    ("unicode", "T\u00e9l\u00e9-assistance \u2603", None, "onboarding",
     "2024-02-29T00:00Z", None, "v1.0"),
    ("dot.tilde~id_1", "O'Brien", "https://o.example/?a=1&b=2", "notOnboarded", None,
     "2025-06-30T12:00:00+14:00", "beta"),
]
UNSET = "0001-01-01T00:00:00Z"
LEGACY = "5c6f6a57-2a3b-4b8e-9c41-0d1e2f3a4b5c"


class V1Database:
    """A database in version 1 form, on one backend, and reads of it."""

    def __init__(self, backend_name, workroot, pg=None):
        self.pg = pg
        if pg:
            self.name = "upgrade_" + uuid.uuid4().hex[:12]
            pg.psql(f"CREATE DATABASE {self.name}", db="postgres")
            self.dbd = ("pgsql", f"host=127.0.0.1 port={pg.port} dbname={self.name} "
                                 "user=postgres")
        else:
            self.dbd = sqlite_db(workroot.mktemp("upgrade-sqlite"))

    def execute(self, sql, rows=()):
        if self.pg:
            for row in rows or [None]:
                self.pg.psql(sql if row is None else sql % tuple(
                    "NULL" if v is None else "'" + v.replace("'", "''") + "'" for v in row),
                    db=self.name)
            return
        with contextlib.closing(sqlite3.connect(self.dbd[1])) as db:
            if rows:
                db.executemany(sql.replace("%s", "?"), rows)
            else:
                db.execute(sql)
            db.commit()
        give_to_run_user(self.dbd[1])  # the file is the children's, as a real site's

    def query(self, sql):
        if self.pg:
            out = self.pg.psql(sql, db=self.name)
            return [tuple(None if v == "\\N" else v for v in line.split("|"))
                    for line in out.splitlines()]
        with children_db(self.dbd[1]) as db:  # the service may be running
            return db.execute(sql).fetchall()

    def fill(self, rows):
        self.execute(SCHEMA_V1)
        if rows:
            self.execute("INSERT INTO remote_assistance_partners (id, display_name, "
                         "onboarding_url, onboarding_status, last_connection_date_time, "
                         "onboarding_request_expiry_date_time, api_version) "
                         "VALUES (%s, %s, %s, %s, %s, %s, %s)", rows)
        return self


@pytest.fixture(params=["sqlite", "pgsql"])
def v1(request, workroot):
    pg = request.getfixturevalue("pg") if request.param == "pgsql" else None
    return V1Database(request.param, workroot, pg)


def start(workroot, keys, v1, extra_config=""):
    return make_service(workroot.mktemp("upgraded"), keys, Backend("upgrade", v1.dbd, None),
                        extra_config=extra_config)


def test_every_row_survives_the_upgrade_in_the_legacy_tenant(v1, workroot, keys):
    v1.fill(ROWS_V1)
    svc = start(workroot, keys, v1, f"RemoteAssistLegacyTenant {LEGACY}")
    try:
        assert (f"upgraded to schema version {SCHEMA_LEVEL}; {len(ROWS_V1)} partner(s)"
                in svc.log())
        assert LEGACY in svc.log()
        owner, beta = Caller(svc, tenant=LEGACY), Caller(svc, tenant=LEGACY, version="beta")
        for pid, name, url, status, last, expiry, _ in ROWS_V1:
            entity = beta.get(pid).json()
            assert entity["id"] == pid
            assert entity["displayName"] == name and entity["onboardingUrl"] == url
            assert entity["onboardingStatus"] == (status or "notOnboarded")
            assert entity["lastConnectionDateTime"] == (last or UNSET)
            assert entity["onboardingRequestExpiryDateTime"] == (expiry or UNSET)
            assert entity["@odata.etag"].startswith('W/"')
            assert owner.get(pid).status_code == 200
        assert sorted(owner.ids()) == sorted(r[0] for r in ROWS_V1)
        assert owner.count(**{"$filter": "lastConnectionDateTime gt 2020-01-01T00:00:00Z"}
                           ).text == "1"
        # no row became anybody else's
        assert Caller(svc).ids() == []
        assert v1.query("SELECT version FROM remoteassist_schema") in (
            [(SCHEMA_LEVEL,)], [(str(SCHEMA_LEVEL),)])
        # and the upgraded table takes writes
        assert owner.patch("nulls", {"displayName": "named"}).status_code == 200
        assert owner.request("POST", body={"id": "after"}).status_code == 201
    finally:
        svc.httpd.stop()
    # a second start finds this module's level: nothing to upgrade again
    again = start(workroot, keys, v1, f"RemoteAssistLegacyTenant {LEGACY}")
    try:
        assert "upgraded to schema version" not in again.log()
        assert len(Caller(again, tenant=LEGACY).ids()) == len(ROWS_V1) + 1
    finally:
        again.httpd.stop()


@pytest.mark.expect_log("RA00015")
def test_rows_without_a_legacy_tenant_are_refused_and_answer_503(v1, workroot, keys):
    v1.fill(ROWS_V1)
    httpd = Httpd(workroot.mktemp("no-legacy"), v1.dbd,
                  f'RemoteAssistTokenKey "{keys.path("jwks.json")}"')
    rc, out = httpd.configtest()
    assert rc != 0 and "RA00071" in out and "RemoteAssistLegacyTenant" in out, out
    httpd.start()  # a real start keeps the site: the module answers 503
    try:
        log = httpd.read_log()
        assert "RA00015" in log and "RemoteAssistLegacyTenant" in log, log
        assert f"holds {len(ROWS_V1)} partners" in log, log
        r = requests.get(httpd.url(), timeout=10,
                         headers={"Authorization": f"Bearer {keys.token(tid=LEGACY)}"})
        assert r.status_code == 503 and r.headers.get("Retry-After"), r.text
    finally:
        httpd.stop()
    # the database is as it was: version 1, every row
    assert sorted(r[0] for r in v1.query("SELECT id FROM remote_assistance_partners")) == \
        sorted(r[0] for r in ROWS_V1)
    assert v1.query("SELECT COUNT(*) FROM remote_assistance_partners WHERE "
                    "onboarding_status IS NULL") in ([(1,)], [("1",)])


def test_an_empty_version_1_table_upgrades_without_a_tenant(v1, workroot, keys):
    v1.fill([])
    svc = start(workroot, keys, v1)
    try:
        assert "0 partner(s)" in svc.log()
        assert Caller(svc).request("POST", body={}).status_code == 201
    finally:
        svc.httpd.stop()


# ---- the schema-compatibility rule (docs/operations.md) ----

def schema_row(db):
    """The schema row as (version, oldest_reader), ints, whatever the backend."""
    return tuple(int(v) for v in db.query(
        "SELECT version, oldest_reader FROM remoteassist_schema")[0])


def level_2(db):
    """A database as module 0.2.0 left it: sql/schema.sql alone (level 2), one
    partner of tenant LEGACY in it."""
    with open(os.path.join(ROOT, "sql", "schema.sql")) as f:
        base = "".join(line for line in f if not line.startswith("--"))
    if not db.pg:
        base = base.replace(' COLLATE "C"', "")
    for statement in base.split(";"):
        if statement.strip():
            db.execute(statement)
    db.execute("INSERT INTO remote_assistance_partners (tenant_id, id, display_name, "
               "onboarding_status, last_connection_date_time, last_connection_ticks, "
               "onboarding_request_expiry_date_time, onboarding_request_expiry_ticks, etag, "
               "api_version) VALUES (%s, 'from-0.2', 'Old', 'onboarded', %s, 0, %s, 0, "
               "'W/\"b2xk\"', 'v1.0')", [(LEGACY, UNSET, UNSET)])
    return db


def test_a_level_2_database_is_brought_up_by_the_steps(v1, workroot, keys):
    level_2(v1)
    svc = start(workroot, keys, v1)
    try:
        assert (f"upgraded from schema level 2 to {SCHEMA_LEVEL}; modules of level "
                f"{OLDEST_READER} and later can serve it") in svc.log()
        assert "RA00077" in svc.log()
        assert Caller(svc, tenant=LEGACY).get("from-0.2").json()["displayName"] == "Old"
        assert schema_row(v1) == (SCHEMA_LEVEL, OLDEST_READER)
    finally:
        svc.httpd.stop()


def test_a_newer_compatible_database_is_served_and_left_as_it_is(v1, workroot, keys):
    """A node of this release on a database a later release upgraded (one
    more additive step, this level still its oldest reader): the rolling
    upgrade's old node. It serves the rows, also those written with the
    newer column, and changes neither the schema row nor the tables."""
    level_2(v1)
    start(workroot, keys, v1).httpd.stop()  # this module's level, then one more step
    v1.execute("ALTER TABLE remote_assistance_partners ADD COLUMN added_later TEXT")
    v1.execute(f"UPDATE remoteassist_schema SET version = {SCHEMA_LEVEL + 1}")
    v1.execute("INSERT INTO remote_assistance_partners (tenant_id, id, display_name, "
               "onboarding_status, last_connection_date_time, last_connection_ticks, "
               "onboarding_request_expiry_date_time, onboarding_request_expiry_ticks, etag, "
               "api_version, added_later) VALUES (%s, 'from-newer', 'Newer', 'onboarding', "
               "%s, 0, %s, 0, 'W/\"bmV3\"', 'v1.0', 'x')", [(LEGACY, UNSET, UNSET)])
    httpd = Httpd(workroot.mktemp("older-node"), v1.dbd,
                  f'RemoteAssistTokenKey "{keys.path("jwks.json")}"')
    rc, out = httpd.configtest()
    assert rc == 0, out
    svc = start(workroot, keys, v1)
    try:
        log = svc.log()
        assert "RA00078" in log and (f"schema level {SCHEMA_LEVEL + 1}, newer than this "
                                     f"module's {SCHEMA_LEVEL}: served") in log, log
        owner = Caller(svc, tenant=LEGACY)
        assert owner.get("from-newer").json()["displayName"] == "Newer"
        assert owner.patch("from-0.2", {"displayName": "Patched"}).status_code == 200
        assert owner.request("POST", body={"id": "by-older"}).status_code == 201
        assert sorted(owner.ids()) == ["by-older", "from-0.2", "from-newer"]
    finally:
        svc.httpd.stop()
    assert schema_row(v1) == (SCHEMA_LEVEL + 1, OLDEST_READER)
    assert v1.query("SELECT added_later FROM remote_assistance_partners WHERE "
                    "id = 'from-newer'") == [("x",)]


@pytest.mark.expect_log("RA00015")
def test_a_database_that_needs_a_newer_module_is_refused(v1, workroot, keys):
    level_2(v1)
    start(workroot, keys, v1).httpd.stop()
    v1.execute(f"UPDATE remoteassist_schema SET version = {SCHEMA_LEVEL + 2}, "
               f"oldest_reader = {SCHEMA_LEVEL + 1}")
    httpd = Httpd(workroot.mktemp("too-old-node"), v1.dbd,
                  f'RemoteAssistTokenKey "{keys.path("jwks.json")}"')
    rc, out = httpd.configtest()
    needs = (f"the database is at schema level {SCHEMA_LEVEL + 2}, which needs a module of "
             f"schema level {SCHEMA_LEVEL + 1} or later; this module is at level "
             f"{SCHEMA_LEVEL}")
    assert rc != 0 and "RA00071" in out and needs in out, out
    httpd.start()  # a real start keeps the site: the module answers 503
    try:
        assert needs in httpd.read_log()
        r = requests.get(httpd.url(), timeout=10,
                         headers={"Authorization": f"Bearer {keys.token(tid=LEGACY)}"})
        assert r.status_code == 503 and r.headers.get("Retry-After"), r.text
    finally:
        httpd.stop()
    assert schema_row(v1) == (SCHEMA_LEVEL + 2, SCHEMA_LEVEL + 1)


def columns(db, table):
    """The column names of one of db's tables."""
    sql = (f"SELECT column_name FROM information_schema.columns WHERE table_name = '{table}'"
           if db.pg else f"SELECT name FROM pragma_table_info('{table}')")
    return sorted(r[0] for r in db.query(sql))


def configtest(workroot, keys, dbd, name):
    return Httpd(workroot.mktemp(name), dbd,
                 f'RemoteAssistTokenKey "{keys.path("jwks.json")}"').configtest()


def test_a_look_at_a_level_2_database_changes_nothing(v1, workroot, keys):
    """apachectl -t runs the step in a transaction it rolls back: it says the
    start would work, and the database keeps level 2 and its old shape."""
    level_2(v1)
    rc, out = configtest(workroot, keys, v1.dbd, "look-level-2")
    assert rc == 0, out
    assert v1.query("SELECT version FROM remoteassist_schema") in ([(2,)], [("2",)])
    assert columns(v1, "remoteassist_schema") == ["version"]


APP_ROLE = "ra_app"


def test_a_role_that_may_not_alter_tables_is_told_which_step_to_run(pg, workroot, keys):
    """The least-privilege role (reads and writes, owns nothing) cannot add a
    step: -t refuses with RA00071 naming the step file; once an administrator
    has run that file, as docs/operations.md says, the same -t passes."""
    db = level_2(V1Database("pgsql", workroot, pg))
    pg.psql(f"CREATE ROLE {APP_ROLE} LOGIN", db=db.name)
    pg.psql(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public "
            f"TO {APP_ROLE}", db=db.name)
    app = ("pgsql", db.dbd[1].replace("user=postgres", f"user={APP_ROLE}"))
    rc, out = configtest(workroot, keys, app, "app-role")
    assert rc != 0 and "RA00071" in out and "step-003-pgsql.sql" in out, out
    assert schema_row_version(db) == 2
    # the administrator runs every step the module lacks, then grants the
    # role what the new tables need (docs/operations.md's recipe)
    for level in range(3, SCHEMA_LEVEL + 1):
        subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p",
                        str(pg.port), "-U", "postgres", "-d", db.name, "-f",
                        os.path.join(ROOT, "build", f"step-{level:03d}-pgsql.sql")],
                       check=True)
    pg.psql(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public "
            f"TO {APP_ROLE}", db=db.name)
    rc, out = configtest(workroot, keys, app, "app-role-after")
    assert rc == 0, out
    assert schema_row(db) == (SCHEMA_LEVEL, 3)


def schema_row_version(db):
    return int(db.query("SELECT version FROM remoteassist_schema")[0][0])


def wait_for_locks(pg, db, which, alive=lambda: True, result=None):
    """Until one advisory lock is held (which "granted") or awaited ("NOT
    granted"), within RA_SCHEMA_SETUP_WAIT, the set-up's bound."""
    sql = f"SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND {which}"
    deadline = time.monotonic() + 8
    while pg.psql(sql, db=db.name) != "1":
        assert alive() and time.monotonic() < deadline, f"no {which} lock: {result}"
        time.sleep(0.05)


def test_a_node_that_waited_for_another_nodes_upgrade_sees_it(pg, workroot, keys):
    """Two nodes upgrading one database at once: the second waits for the
    first's advisory lock and must then find the step done, even where the
    database's default isolation is REPEATABLE READ (whose snapshot would
    predate the first node's commit, so the step would run twice and fail)."""
    db = level_2(V1Database("pgsql", workroot, pg))
    pg.psql(f"ALTER DATABASE {db.name} SET default_transaction_isolation = "
            "'repeatable read'", db="postgres")
    with open(os.path.join(ROOT, "build", "step-003-pgsql.sql")) as f:
        step = f.read()
    first = subprocess.Popen(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
                              "-p", str(pg.port), "-U", "postgres", "-d", db.name],
                             stdin=subprocess.PIPE, text=True)
    try:
        # the first node, mid-upgrade: it holds the lock, its step not committed
        first.stdin.write("BEGIN;\nSELECT pg_advisory_xact_lock(7243010);\n" + step + "\n")
        first.stdin.flush()
        wait_for_locks(pg, db, "granted")
        result = {}
        second = threading.Thread(target=lambda: result.update(
            look=configtest(workroot, keys, db.dbd, "second-node")))
        second.start()
        wait_for_locks(pg, db, "NOT granted", second.is_alive, result)
        first.stdin.write("COMMIT;\n")
        first.stdin.close()
        assert first.wait(timeout=10) == 0
        second.join(timeout=30)
        rc, out = result["look"]
        assert rc == 0, out
    finally:
        if first.poll() is None:
            first.kill()
    assert schema_row(db) == (3, 3)
