"""The PostgreSQL recipes of docs/operations.md ("PostgreSQL operations"),
each run as the document gives it:

- a least-privilege role: an administrator role creates the tables once with
  the shipped SQL; httpd's role may read and write them but create nothing.
  Before that, `apachectl -t` refuses with RA00120 and a real start logs
  RA00121 and answers 503, then serves without a restart once the
  administrator has run the schema; the module runs no DDL as that role;
- pg_dump / pg_restore of that database into another, served by the module
  as the same role (the grants come along);
- a base backup with WAL archiving, restored to a point in time: the rows
  created before it are there, those created after are not.
"""
import os
import shutil
import subprocess
import time
import uuid

import pytest

from conftest import SEED_V1, assert_graph_error
from httpd_harness import ROOT, Httpd
from pg_cluster import PgCluster

APP_ROLE = "remoteassist"
ADMIN_ROLE = "remoteassist_admin"
SCHEMA_SQL = os.path.join(ROOT, "build", "schema-pgsql.sql")

# docs/operations.md, "A role that cannot create tables": the
# administrator's part, as a superuser (PostgreSQL 15 no longer lets every
# role create in schema public; the REVOKE makes older servers alike)
ROLES_SQL = f"""
CREATE ROLE {ADMIN_ROLE} LOGIN;
CREATE ROLE {APP_ROLE} LOGIN;
"""
DATABASE_SQL = "CREATE DATABASE {db} OWNER " + ADMIN_ROLE
REVOKE_SQL = "REVOKE CREATE ON SCHEMA public FROM PUBLIC"
GRANTS_SQL = f"""
GRANT SELECT, INSERT, UPDATE, DELETE ON remote_assistance_partners TO {APP_ROLE};
GRANT SELECT ON remoteassist_schema TO {APP_ROLE};
GRANT SELECT ON remoteassist_secrets TO {APP_ROLE};
GRANT SELECT, INSERT, DELETE ON remoteassist_audit_events TO {APP_ROLE};
"""


class RoleDatabase:
    """A database of the cluster as httpd's role sees it: what private_service
    needs of a cluster (dbd_params for the module, psql for the test)."""

    def __init__(self, cluster, db, user=APP_ROLE):
        self.cluster, self.database, self.user = cluster, db, user

    @property
    def dbd_params(self):
        return f"host=127.0.0.1 port={self.cluster.port} dbname={self.database} user={self.user}"

    def psql(self, sql, db=None):
        return self.cluster.psql(sql, db=db or self.database)

    def as_admin(self, *psql_args):
        subprocess.run(["psql", "-X", "-q", "-h", "127.0.0.1", "-p", str(self.cluster.port),
                        "-U", ADMIN_ROLE, "-d", self.database, "-v", "ON_ERROR_STOP=1"]
                       + list(psql_args), check=True, capture_output=True, text=True)

    def create_tables(self):
        """The administrator's run of the shipped schema, then the grants."""
        self.as_admin("-f", SCHEMA_SQL)
        self.as_admin("-c", GRANTS_SQL)


@pytest.fixture(scope="module")
def roles_cluster(workroot):
    """One cluster for this file's databases; it logs every DDL statement with the role that ran it."""
    pg = PgCluster(workroot.mktemp("pg-roles"),
                   settings=["log_statement=ddl", "log_line_prefix=role=%u:"]).start()
    pg.psql(ROLES_SQL, db="postgres")
    yield pg
    pg.destroy()


def new_database(cluster, name):
    cluster.psql(DATABASE_SQL.format(db=name), db="postgres")
    cluster.psql(REVOKE_SQL, db=name)
    return RoleDatabase(cluster, name)


def ddl_by(cluster, role):
    with open(cluster.log, errors="replace") as f:
        return [line for line in f if line.startswith(f"role={role}:")
                and "statement:" in line]


def wait_for_status(svc, body, status, seconds):
    deadline = time.time() + seconds
    while True:
        r = svc.post(body)
        if r.status_code == status or time.time() > deadline:
            return r
        time.sleep(0.5)


@pytest.mark.parametrize("case, prepare, says", [
    ("tables missing", lambda db: None, "may not create tables in schema public"),
    ("tables not granted", lambda db: db.as_admin("-f", SCHEMA_SQL),
     f"role {APP_ROLE} has no privileges on them"),
])
def test_configtest_names_what_a_role_without_ddl_lacks(roles_cluster, workroot, keys, case,
                                                        prepare, says):
    db = new_database(roles_cluster, "ra_" + uuid.uuid4().hex[:8])
    prepare(db)
    httpd = Httpd(workroot.mktemp("pg-role-t"), ("pgsql", db.dbd_params),
                  f'RemoteAssistTokenKey "{keys.path("jwks.json")}"')
    rc, out = httpd.configtest()
    assert rc != 0, out
    line = next((l for l in out.splitlines() if "RA00120" in l), "")
    assert says in line and "an administrator runs the schema" in line, out
    assert f"user={APP_ROLE}" in line, line
    assert ddl_by(roles_cluster, APP_ROLE) == []


# the start before the administrator ran the schema
@pytest.mark.slow
@pytest.mark.expect_log("RA00121")
def test_least_privilege_role_waits_for_the_admin_then_serves_without_ddl(
        private_service, roles_cluster, keys):
    db = new_database(roles_cluster, "ra_lp")
    svc = private_service("pg-role", pg=db)
    line = next((l for l in svc.log().splitlines() if "RA00121" in l), "")
    assert "may not create tables in schema public" in line and "answer 503" in line, line
    refused = svc.post(dict(SEED_V1, id="before"))
    assert_graph_error(refused, 503, "ServiceNotAvailable")
    assert refused.headers.get("Retry-After")

    db.create_tables()
    # each child retries the set-up every 2 s: no restart
    created = wait_for_status(svc, dict(SEED_V1, id="lp-1"), 201, 15)
    assert created.status_code == 201, created.text
    auth = {"Authorization": f"Bearer {keys.token()}"}
    one = f"{svc.url()}('lp-1')"
    assert svc.session.patch(one, json={"displayName": "x"}, headers=auth).status_code in (200, 204)
    assert svc.session.delete(one, headers=auth).status_code == 204
    # a node started now needs no DDL either
    svc.stop()
    again = private_service("pg-role-again", pg=db)
    assert again.post(dict(SEED_V1, id="lp-2")).status_code == 201
    assert ddl_by(roles_cluster, APP_ROLE) == []
    assert ddl_by(roles_cluster, ADMIN_ROLE), "the administrator's DDL was not logged"


def partners(svc, keys, ids):
    """{id: (status, ETag, displayName)} of a GET of each id."""
    auth = {"Authorization": f"Bearer {keys.token()}"}
    found = {}
    for pid in ids:
        r = svc.session.get(f"{svc.url()}('{pid}')", headers=auth)
        found[pid] = (r.status_code, r.headers.get("ETag"),
                      r.json().get("displayName") if r.status_code == 200 else None)
    return found


@pytest.mark.slow
def test_pg_dump_and_pg_restore_keep_rows_and_grants(private_service, roles_cluster, keys,
                                                     workroot):
    source = new_database(roles_cluster, "ra_dump_src")
    source.create_tables()
    svc = private_service("pg-dump-src", pg=source)
    ids = [f"d{n}" for n in range(5)]
    for pid in ids:
        assert svc.post(dict(SEED_V1, id=pid, displayName=f"name {pid}")).status_code == 201
    before = partners(svc, keys, ids)
    svc.stop()

    # docs/operations.md, "pg_dump and pg_restore"
    dump = os.path.join(workroot.mktemp("dump"), "remoteassist.dump")
    subprocess.run(["pg_dump", "-h", "127.0.0.1", "-p", str(roles_cluster.port), "-U", ADMIN_ROLE,
                    "-Fc", "-f", dump, source.database], check=True)
    roles_cluster.psql(DATABASE_SQL.format(db="ra_restored"), db="postgres")
    subprocess.run(["pg_restore", "-h", "127.0.0.1", "-p", str(roles_cluster.port),
                    "-U", ADMIN_ROLE, "-d", "ra_restored", "--exit-on-error", dump], check=True)

    restored = private_service("pg-dump-dst", pg=RoleDatabase(roles_cluster, "ra_restored"))
    assert partners(restored, keys, ids) == before
    assert all(status == 200 for status, _, _ in before.values())
    assert restored.post(dict(SEED_V1, id="after-restore")).status_code == 201
    assert ddl_by(roles_cluster, APP_ROLE) == []


def wait_until_primary(cluster, seconds=60):
    deadline = time.time() + seconds
    while cluster.psql("SELECT pg_is_in_recovery()") != "f":
        assert time.time() < deadline, "recovery did not end"
        time.sleep(0.2)


@pytest.mark.slow
def test_base_backup_with_wal_archive_restores_to_a_point_in_time(private_service, workroot,
                                                                  keys):
    archive = workroot.mktemp("wal-archive")
    if os.geteuid() == 0:
        shutil.chown(archive, "postgres", "postgres")
    # docs/operations.md, "Base backup and point-in-time recovery"
    pg = PgCluster(workroot.mktemp("pg-pitr"), settings=[
        "archive_mode=on", f"archive_command='cp %p {archive}/%f'"]).start()
    restored = None
    try:
        svc = private_service("pitr-before", pg=pg)
        assert svc.post(dict(SEED_V1, id="in-backup")).status_code == 201
        backup = pg.base_backup(workroot.mktemp("pg-pitr-restored"), settings=[])
        kept = [f"kept-{n}" for n in range(3)]
        for pid in kept:
            assert svc.post(dict(SEED_V1, id=pid)).status_code == 201
        target = pg.psql("SELECT now()")
        time.sleep(1)
        lost = [f"lost-{n}" for n in range(3)]
        for pid in lost:
            assert svc.post(dict(SEED_V1, id=pid)).status_code == 201
        svc.stop()
        pg.psql("SELECT pg_switch_wal()")
        deadline = time.time() + 30
        while pg.psql("SELECT last_failed_wal IS NULL AND archived_count > 0 AND "
                      "last_archived_wal >= pg_walfile_name(pg_current_wal_lsn() - 1) "
                      "FROM pg_stat_archiver") != "t":
            assert time.time() < deadline, pg.psql("SELECT * FROM pg_stat_archiver")
            time.sleep(0.2)
        pg.stop()

        with open(os.path.join(backup.data, "postgresql.auto.conf"), "a") as f:
            f.write(f"restore_command = 'cp {archive}/%f %p'\n"
                    f"recovery_target_time = '{target}'\n"
                    "recovery_target_action = 'promote'\n")
        open(os.path.join(backup.data, "recovery.signal"), "w").close()
        if os.geteuid() == 0:
            for name in ("postgresql.auto.conf", "recovery.signal"):
                shutil.chown(os.path.join(backup.data, name), "postgres", "postgres")
        restored = backup.start()
        wait_until_primary(restored)
        node = private_service("pitr-after", pg=restored)
        found = partners(node, keys, ["in-backup"] + kept + lost)
        assert [pid for pid, (status, _, _) in found.items() if status == 200] == \
            ["in-backup"] + kept, found
    finally:
        if restored:
            restored.destroy()
        pg.destroy()


# docs/operations.md, "Pool sizing": RA00068's arithmetic under each MPM, on
# a cluster whose ordinary roles get 17 connections (max_connections 20 less
# 3 reserved). prefork's children hold one connection each, whatever DBDMax.
POOL_CASES = [
    ("event", "StartServers 1\nServerLimit 4\nThreadsPerChild 5\nThreadLimit 5\n"
              "MaxRequestWorkers 20\nMinSpareThreads 5\nMaxSpareThreads 20",
     "DBDMax 16", "may open 40: up to 4 children", "lower DBDMax to 2 or raise"),
    ("prefork", "StartServers 1\nMinSpareServers 1\nMaxSpareServers 2\nMaxRequestWorkers 10",
     "DBDMax 16", "may open 20: up to 10 children",
     "no DBDMax fits (a child keeps at least 1): lower MaxRequestWorkers to 8 or raise"),
    ("event-fits", "StartServers 1\nServerLimit 4\nThreadsPerChild 5\nThreadLimit 5\n"
                   "MaxRequestWorkers 20\nMinSpareThreads 5\nMaxSpareThreads 20",
     "DBDKeep 2\nDBDMax 2", None, None),
]


@pytest.fixture(scope="module")
def small_cluster(workroot):
    pg = PgCluster(workroot.mktemp("pg-small"), settings=["max_connections=20"]).start()
    yield pg
    pg.destroy()


@pytest.mark.parametrize("mpm, mpm_config, dbd, opens, remedy", POOL_CASES,
                         ids=[c[0] for c in POOL_CASES])
def test_pool_size_warning_follows_the_mpm(private_service, small_cluster, mpm, mpm_config,
                                           dbd, opens, remedy):
    svc = private_service(f"pool-{mpm}", pg=small_cluster, mpm=mpm.split("-")[0],
                          mpm_config=mpm_config, extra_config=dbd)
    line = next((l for l in svc.log().splitlines() if "RA00068" in l), None)
    if opens is None:
        assert line is None, line
    else:
        assert line and "allows 17 connections" in line and opens in line and remedy in line, line
