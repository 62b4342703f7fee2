"""The module through PgBouncer (docs/operations.md, "PgBouncer"): session
pooling serves every operation, also across a graceful restart whose new
children get server connections the old ones used (DISCARD ALL dropped their
prepared statements); and a failover behind PgBouncer as an operator does it:
the primary dies, the synchronous standby is promoted, [databases] is
rewritten and PgBouncer RELOADed. No create answered 201 is lost, every error
is a 503 with Retry-After, and creates are answered 201 again soon after the
RELOAD, with no httpd restart."""
import threading
import time
import uuid

import pytest
import requests

from conftest import SEED_V1
from pg_cluster import PgCluster
from pgbouncer import PgBouncer

# after PgBouncer is re-pointed, creates must be answered 201 again within
# this many seconds (mod_dbd's check of a dead connection reconnects at once)
BACK_WITHIN = 10
LOAD_THREADS = 4


@pytest.fixture
def bounced(workroot):
    """A cluster and a session-pooling PgBouncer in front of it."""
    pg = PgCluster(workroot.mktemp("pgb-pg")).start()
    bouncer = PgBouncer(pg, workroot.mktemp("pgb")).start()
    yield pg, bouncer
    bouncer.stop()
    pg.destroy()


def server_connections(bouncer):
    """PgBouncer's server connections, by their local port."""
    rows = [line.split("|") for line in bouncer.admin("SHOW SERVERS").splitlines()]
    return {row[7] for row in rows}


@pytest.mark.slow
def test_session_pooling_serves_every_operation_across_a_graceful_restart(private_service,
                                                                         bounced, keys):
    pg, bouncer = bounced
    svc = private_service("pgb-session", pg=bouncer)
    auth = {"Authorization": f"Bearer {keys.token()}"}
    created = svc.post(dict(SEED_V1, id="pgb-1"))
    assert created.status_code == 201, created.text
    one = f"{svc.url()}('pgb-1')"
    assert svc.session.get(one, headers=auth).status_code == 200
    patched = svc.session.patch(one, json={"displayName": "through PgBouncer"},
                                headers=dict(auth, **{"If-Match": created.headers["ETag"]}))
    assert patched.status_code in (200, 204), patched.text
    listed = svc.session.get(svc.url(), headers=auth).json()["value"]
    assert [p["displayName"] for p in listed if p["id"] == "pgb-1"] == ["through PgBouncer"]
    # the new children's connections get server connections the old children
    # had; PgBouncer's DISCARD ALL dropped their statements, so preparing the
    # same names again succeeds
    servers_before = server_connections(bouncer)
    svc.httpd.graceful()
    deadline = time.time() + 10
    while time.time() < deadline and svc.log().count("resuming normal operations") < 2:
        time.sleep(0.1)
    statuses = [svc.post(dict(SEED_V1, id=f"pgb-after-{n}")).status_code for n in range(20)]
    assert statuses == [201] * 20, statuses
    assert svc.session.delete(one, headers=auth).status_code == 204
    assert servers_before & server_connections(bouncer), "no server connection was reused"


class CreateLoad:
    """Threads creating partners with client-chosen ids until stopped:
    (id, status, Retry-After, time answered) for each."""

    def __init__(self, svc, token):
        self.svc, self.token = svc, token
        self.answers, self.lock = [], threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(n,))
                        for n in range(LOAD_THREADS)]

    def run(self, n):
        session = requests.Session()
        while not self.stopping.is_set():
            pid = f"f{n}-{uuid.uuid4().hex[:12]}"
            try:
                r = session.post(self.svc.url(), json=dict(SEED_V1, id=pid), timeout=30,
                                 headers={"Authorization": f"Bearer {self.token}"})
                answer = (pid, r.status_code, r.headers.get("Retry-After"), time.time())
            except requests.RequestException:
                answer = (pid, None, None, time.time())
            with self.lock:
                self.answers.append(answer)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        for t in self.threads:
            t.join()


def make_sync_standby(primary, workdir):
    """A standby that every commit of primary waits for. The primary's own
    set-up (CREATE DATABASE) came first: with no standby yet it would wait."""
    standby = primary.standby(workdir, name="ra_standby")
    primary.psql("ALTER SYSTEM SET synchronous_standby_names = 'ra_standby'")
    primary.psql("SELECT pg_reload_conf()")
    deadline = time.time() + 30
    while time.time() < deadline:
        if primary.psql("SELECT sync_state FROM pg_stat_replication") == "sync":
            return standby
        time.sleep(0.1)
    standby.destroy()
    raise AssertionError("the standby never became synchronous")


# while the primary is gone: a statement on a dead connection (RA00041), its
# 503 (RA00030), no connection to be had (RA00040) and mod_dbd's own lines
@pytest.mark.slow
@pytest.mark.expect_log("RA00030", "RA00040", "RA00041", "AH00629", "AH00633", "AH02655")
def test_failover_behind_pgbouncer_loses_no_acknowledged_create(private_service, workroot,
                                                                keys, record_property):
    primary = PgCluster(workroot.mktemp("pgb-primary")).start()
    standby = make_sync_standby(primary, workroot.mktemp("pgb-standby"))
    bouncer = PgBouncer(primary, workroot.mktemp("pgb-fo")).start()
    try:
        svc = private_service("pgb-failover", pg=bouncer)
        with CreateLoad(svc, keys.token()) as load:
            time.sleep(1.5)
            killed = time.time()
            primary.kill()
            standby.promote()
            bouncer.point_at(standby)
            repointed = time.time()
            while time.time() < repointed + BACK_WITHIN:
                time.sleep(0.2)
                with load.lock:
                    back = [a for a in load.answers if a[3] > repointed and a[1] == 201]
                if len(back) >= 20:
                    break
        stored = set(standby.psql("SELECT id FROM remote_assistance_partners").split())
        svc.stop()
    finally:
        bouncer.stop()
        standby.destroy()
        primary.destroy()

    answers = load.answers
    acknowledged = {pid for pid, status, _, _ in answers if status == 201}
    errors = [(status, retry) for _, status, retry, _ in answers if status != 201]
    first_back = min((at for _, status, _, at in answers if status == 201 and at > repointed),
                     default=None)
    record_property("creates", len(answers))
    record_property("errors", len(errors))
    record_property("failover_seconds", round(repointed - killed, 2))
    record_property("back_after_repoint_seconds",
                    first_back and round(first_back - repointed, 2))
    assert len([a for a in answers if a[3] < killed and a[1] == 201]) > 10, "no load before"
    assert all(status == 503 and retry for status, retry in errors), errors
    assert first_back is not None, f"no 201 within {BACK_WITHIN} s of the RELOAD"
    assert acknowledged <= stored, sorted(acknowledged - stored)[:10]
