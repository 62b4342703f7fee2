"""How the module behaves in a real deployment: logs, reverse proxies,
virtual hosts, MPMs, concurrency, graceful restarts and database faults.
Loads are bounded in count and time and go to 127.0.0.1 only."""
import concurrent.futures
import contextlib
import os
import re
import sqlite3
import threading
import time
import uuid

import pytest
import requests

from conftest import (COLLECTION, PROXY_BASE, SEED_V1, as_run_user, assert_graph_error,
                      children_db, location_block)


def wait_for(predicate, timeout=10.0, interval=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


# ----------------------------------------------------------------- logging

def test_startup_line_names_the_library_versions(sqlite_service):
    log = sqlite_service.log()
    line = next(line for line in log.splitlines() if "RA00001" in line)
    assert re.search(r"jansson 2\.\d+", line), line
    assert re.search(r"cjose 0\.\d", line), line
    assert "OpenSSL 3" in line and re.search(r"apr-util 1\.\d", line), line


def test_startup_lists_each_sections_keys_and_algorithms(sqlite_service, keys):
    log = sqlite_service.log()
    assert re.search(r"RA00007: /v1\.0/deviceManagement/remoteAssistancePartners serves v1\.0; "
                     r"2 key\(s\) from RemoteAssistTokenKey \S*jwks\.json accept RS256,ES256", log), log
    assert re.search(r"RA00007: /hs256/\S+ serves v1\.0; 1 key\(s\) from "
                     r"RemoteAssistTokenSecret \S*secret\.txt accept HS256", log), log


def test_one_info_line_per_write_with_request_id(sqlite_service):
    resp = sqlite_service.post(SEED_V1)
    rid, pid = resp.headers["request-id"], resp.json()["id"]
    assert wait_for(lambda: f"request-id={rid} created id={pid}" in sqlite_service.log())
    line = next(x for x in sqlite_service.log().splitlines() if f"request-id={rid} created" in x)
    assert "[remoteassist:info]" in line and "version=v1.0 batch=" in line
    assert line.endswith("status=201")


def test_rejections_are_logged_at_debug_with_request_id(sqlite_service):
    resp = sqlite_service.post(data="{bad")
    rid = resp.headers["request-id"]
    assert wait_for(lambda: f"request-id={rid} status=400 code=BadRequest" in sqlite_service.log())
    line = next(x for x in sqlite_service.log().splitlines() if rid in x)
    assert "[remoteassist:debug]" in line


def test_no_body_content_in_the_error_log(sqlite_service):
    marker = f"secret-marker-{uuid.uuid4()}"
    sqlite_service.post(dict(SEED_V1, displayName=marker))
    sqlite_service.post(dict(SEED_V1, displayName=marker, **{marker: 1}))
    sqlite_service.post(data='{"displayName": "%s",' % marker)
    time.sleep(0.2)
    assert marker not in sqlite_service.log()


# ----------------------------------------------------- URLs behind proxies

def test_base_url_directive_sets_location_and_context(service):
    resp = service.post(SEED_V1, prefix="/proxied")
    assert resp.status_code == 201
    pid = resp.json()["id"]
    assert resp.headers["Location"] == (f"{PROXY_BASE}/deviceManagement/"
                                        f"remoteAssistancePartners('{pid}')")
    assert resp.json()["@odata.context"] == (f"{PROXY_BASE}/$metadata#deviceManagement/"
                                             "remoteAssistancePartners/$entity")


def test_without_base_url_the_host_header_decides(sqlite_service):
    resp = sqlite_service.post(SEED_V1, headers={"Host": "graph.example.net:8443"})
    assert resp.status_code == 201
    assert resp.headers["Location"].startswith(
        "http://graph.example.net:8443/v1.0/deviceManagement/remoteAssistancePartners('")


# ------------------------------------------------ deployments and MPMs

def test_virtual_host_inherits_database_and_serves_its_location(private_service, keys):
    key = f'RemoteAssistTokenKey "{keys.path("jwks.json")}"'
    vhost_loc = location_block(f"/v1.0{COLLECTION}", "v1.0", key)
    vhosts = ("<VirtualHost *:*>\n  ServerName api.contoso.test\n"
              f"{vhost_loc}</VirtualHost>\n"
              "<VirtualHost *:*>\n  ServerName other.test\n</VirtualHost>\n")
    svc = private_service("vhost", locations=vhosts)
    resp = svc.post(SEED_V1, headers={"Host": "api.contoso.test"})
    assert resp.status_code == 201, resp.text
    assert svc.backend.row(resp.json()["id"]) is not None
    assert svc.post(SEED_V1, headers={"Host": "other.test"}).status_code == 404


def test_a_virtual_host_that_serves_nothing_keeps_its_own_database(private_service, keys,
                                                                    workroot):
    """A main-server directive (RemoteAssistTokenCache) does not make the
    module set up, or create its tables in, the database of a virtual host
    that serves none of its sections (here one a mod_authn_dbd could use).
    The database outlives the service: mod_dbd opens it in every child's
    init, and the start returns once the port answers, when a child may
    still be starting (under load, after the test's body has ended); the
    work root goes only at the end of the session."""
    key = f'RemoteAssistTokenKey "{keys.path("jwks.json")}"'
    vhost_loc = location_block(f"/v1.0{COLLECTION}", "v1.0", key)
    here = workroot.mktemp("theirs")
    os.chmod(here, 0o777)  # mod_dbd connects from the children, as User
    theirs = os.path.join(here, "theirs.db")
    with contextlib.closing(sqlite3.connect(theirs)) as db:
        db.execute("CREATE TABLE users (name TEXT)")
    os.chmod(theirs, 0o666)
    vhosts = ("RemoteAssistTokenCache 512\n"
              "<VirtualHost *:*>\n  ServerName api.contoso.test\n"
              f"{vhost_loc}</VirtualHost>\n"
              "<VirtualHost *:*>\n  ServerName other.test\n  DBDriver sqlite3\n"
              f"  DBDParams {theirs}\n</VirtualHost>\n")
    svc = private_service("vhost-own-db", locations=vhosts)
    assert svc.post(SEED_V1, headers={"Host": "api.contoso.test"}).status_code == 201
    with contextlib.closing(sqlite3.connect(theirs)) as db:
        tables = {name for name, in db.execute("SELECT name FROM sqlite_master")}
        mode, = db.execute("PRAGMA journal_mode").fetchone()
    assert tables == {"users"}
    assert mode == "delete"


def test_the_collection_is_not_mapped_to_files(private_service):
    """The location overlays DocumentRoot, which denies everyone here: only
    the skipped directory walk lets the request reach the module (no HTML 403)."""
    svc = private_service("no-files", extra_config="<Directory />\n    Require all denied\n"
                                                   "</Directory>\n<DirectoryMatch .>\n"
                                                   "    Require all denied\n</DirectoryMatch>")
    resp = svc.post(SEED_V1)
    assert resp.status_code == 201, resp.text


def test_prefork_mpm(private_service):
    svc = private_service("prefork", mpm="prefork", mpm_config="StartServers 2\nMinSpareServers 2\nMaxSpareServers 4\n"
                                  "MaxRequestWorkers 8")
    created = [svc.post(SEED_V1).status_code for _ in range(20)]
    assert created == [201] * 20
    assert svc.backend.count() == 20


# ---------------------------------------------------------- concurrency

def post_fresh(url, token, body):
    """One POST on a new connection (no keep-alive reuse across restarts)."""
    try:
        return requests.post(url, json=body, timeout=30, headers={
            "Authorization": f"Bearer {token}", "Connection": "close"}).status_code
    except requests.ConnectionError as e:
        return f"connection error: {e}"


def test_parallel_creates_across_two_children_on_sqlite(private_service):
    svc = private_service("parallel")
    token = svc.keys.token()
    # start() returns once the port answers; the second child may still be
    # forking (seen under the sanitized module on a busy machine)
    deadline = time.time() + 10
    while len(svc.httpd.child_pids()) < 2 and time.time() < deadline:
        time.sleep(0.05)
    assert len(svc.httpd.child_pids()) == 2
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(lambda i: post_fresh(svc.url(), token,
                                                   dict(SEED_V1, displayName=f"p{i}")),
                              range(400)))
    assert codes == [201] * 400, [c for c in codes if c != 201][:5]
    assert svc.backend.count() == 400
    locked = [line for line in svc.log().splitlines() if "locked" in line]
    assert not locked, locked


def test_write_lock_held_by_another_process_is_waited_for(private_service):
    """Another writer holding SQLite's lock delays a create instead of failing it."""
    svc = private_service("locked")
    backend = svc.backend
    assert svc.post(SEED_V1).status_code == 201
    with as_run_user():  # its -wal and -shm files may be made now (children_db)
        holder = sqlite3.connect(backend.dbd[1], isolation_level=None,
                                 check_same_thread=False)
        holder.execute("BEGIN IMMEDIATE")
    threading.Timer(0.8, holder.execute, args=("COMMIT",)).start()
    start = time.time()
    resp = svc.post(SEED_V1)
    assert resp.status_code == 201, resp.text
    assert time.time() - start >= 0.5
    holder.close()
    assert backend.count() == 2


def test_graceful_restarts_under_traffic(private_service):
    svc = private_service("graceful")
    token = svc.keys.token()
    codes, stop = [], threading.Event()

    def traffic():
        while not stop.is_set() and len(codes) < 2000:
            codes.append(post_fresh(svc.url(), token, SEED_V1))
    workers = [threading.Thread(target=traffic) for _ in range(4)]
    for w in workers:
        w.start()
    for _ in range(3):
        time.sleep(0.7)
        svc.httpd.graceful()
    time.sleep(0.7)
    stop.set()
    for w in workers:
        w.join(30)
    assert codes and all(c == 201 for c in codes), [c for c in codes if c != 201][:5]
    assert svc.backend.count() == len(codes)
    assert svc.post(SEED_V1).status_code == 201
    log = svc.log()
    assert "Segmentation fault" not in log and "exit signal" not in log
    assert log.count("RA00001") >= 4  # one start-up line per (re)configuration


# ------------------------------------------------------- database faults

# RA00017 in the parent; each new connection cannot prepare the insert
# against the view (RA00016), nor can the request (RA00041), so the create is
# a 503 (RA00030)
@pytest.mark.expect_log("RA00017", "RA00016", "RA00041", "RA00030")
def test_database_broken_at_a_graceful_restart_keeps_the_site_up(private_service):
    """A database that worked before but fails the start-up check during a
    graceful restart is logged (RA00017); the server does not exit."""
    svc = private_service("restart-broken")
    backend = svc.backend
    assert svc.post(SEED_V1).status_code == 201
    with children_db(backend.dbd[1]) as db:
        db.execute("ALTER TABLE remote_assistance_partners RENAME TO moved_away")
        db.execute("CREATE VIEW remote_assistance_partners AS SELECT 1 AS x")
    svc.httpd.graceful()
    assert wait_for(lambda: "RA00017" in svc.log(), timeout=15), svc.log()[-2000:]
    assert svc.httpd.proc.poll() is None
    assert wait_for(lambda: svc.log().count("resuming normal operations") >= 2)
    assert_graph_error(svc.post(SEED_V1), 503, "ServiceNotAvailable")


# the insert fails (RA00041, RA00030); a connection set up after the rename
# (a child the MPM starts meanwhile: seen under the sanitized module) cannot
# prepare its statements on the missing table (RA00016)
@pytest.mark.expect_log("RA00041", "RA00030", "RA00016")
def test_sqlite_failure_is_503_with_retry_after(private_service):
    svc = private_service("sqlite-fault")
    backend = svc.backend
    assert svc.post(SEED_V1).status_code == 201
    with children_db(backend.dbd[1]) as db:
        db.execute("ALTER TABLE remote_assistance_partners RENAME TO moved_away")
    resp = svc.post(SEED_V1)
    assert_graph_error(resp, 503, "ServiceNotAvailable")
    assert resp.headers["Retry-After"].isdigit()
    with children_db(backend.dbd[1]) as db:
        assert db.execute("SELECT count(*) FROM moved_away").fetchone()[0] == 1
    assert wait_for(lambda: "RA00041" in svc.log())


def test_sqlite_schema_change_does_not_break_pooled_connections(private_service):
    """An administrator adding an index invalidates SQLite's legacy prepared
    statements on every pooled connection; creates must go on working."""
    svc = private_service("sqlite-schema")
    backend = svc.backend
    assert [svc.post(SEED_V1).status_code for _ in range(10)] == [201] * 10
    with children_db(backend.dbd[1]) as db:
        db.execute("CREATE INDEX partners_by_status "
                   "ON remote_assistance_partners (onboarding_status)")
    assert [svc.post(SEED_V1).status_code for _ in range(20)] == [201] * 20
    assert backend.count() == 30


# the pooled connection's insert fails (RA00041), its check fails (AH00639),
# new connections fail (AH00629, AH02655): each a 503 (RA00040, RA00030)
@pytest.mark.expect_log("RA00041", "AH00639", "AH00629", "AH02655", "RA00040", "RA00030")
def test_postgresql_outage_is_503_then_recovers(private_service, own_pg):
    svc = private_service("pg-fault-httpd", pg=own_pg)
    backend = svc.backend
    token = svc.keys.token()
    assert svc.post(SEED_V1).status_code == 201
    own_pg.stop()
    for _ in range(3):
        resp = svc.post(SEED_V1, token=token)
        assert_graph_error(resp, 503, "ServiceNotAvailable")
        assert resp.headers["Retry-After"].isdigit()
    own_pg.start()
    codes = [svc.post(SEED_V1, token=token).status_code for _ in range(20)]
    assert set(codes) <= {201, 503}, codes
    assert codes[-10:] == [201] * 10, codes
    assert backend.count() == 1 + codes.count(201)


# a stale pooled connection's insert fails once (RA00041, RA00030)
@pytest.mark.expect_log("RA00041", "RA00030")
def test_postgresql_restart_between_requests_recovers(private_service, own_pg):
    """pg_ctl restart drops the pooled connections and, with them, the
    server-side prepared statement; the module prepares it again."""
    svc = private_service("pg-restart-httpd", pg=own_pg)
    backend = svc.backend
    token = svc.keys.token()
    assert [svc.post(SEED_V1, token=token).status_code for _ in range(10)] == [201] * 10
    own_pg.restart()
    codes = [svc.post(SEED_V1, token=token).status_code for _ in range(30)]
    assert set(codes) <= {201, 503}, codes
    assert codes[-10:] == [201] * 10, codes
    assert codes.count(503) <= 8, codes  # at most a failed first use per pooled link
    assert backend.count() == 10 + codes.count(201)


# mod_dbd cannot connect in child init (AH00629, AH00633, AH00636) nor at
# the request, which is a 503 (RA00040, RA00030)
@pytest.mark.expect_log("AH00629", "AH00633", "AH00636", "RA00040", "RA00041", "RA00030")
def test_postgresql_down_at_startup_warns_and_serves_503(private_service, own_pg):
    own_pg.stop()
    svc = private_service("pg-down", pg=own_pg)
    assert "RA00014" in svc.log()
    assert_graph_error(svc.post(SEED_V1), 503, "ServiceNotAvailable")
