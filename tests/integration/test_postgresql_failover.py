"""PostgreSQL with a streaming-replication standby (docs/deploy.md, "Failover
to a PostgreSQL standby" and "Bounded waits"): one node whose DBDParams name
the primary and the standby (target_session_attrs=read-write), creates with
client-chosen ids under a bounded load, and the faults production meets:

- the primary crashes (pg_ctl stop -m immediate) and the synchronous standby
  is promoted: no id answered 201 is missing on the new primary, every error
  is a Graph 503 with Retry-After, creates succeed again within the bound;
- the primary freezes (SIGSTOP to all its processes): requests answer 503
  within the bound, none hangs; after SIGCONT creates succeed again;
- the synchronous standby stops: creates answer 503 within the bound, none
  201, until it is back;
- a wait for synchronous replication is cancelled (pg_cancel_backend): the
  COMMIT reports success with a WARNING; the create answers 503, and a
  retry gets a definite answer only once the row is on the standby.

Plus the check_config warning (RA00100) for DBDParams with no bound, and the
retry on a fresh connection after PostgreSQL restarted under idle pooled
connections. The load-driven cases are `slow`; the crash-and-promote case is
the short failover test of `make test` (well under a minute)."""
import concurrent.futures
import contextlib
import os
import sys
import time
import uuid

import pytest
import requests

from conftest import (COLLECTION, ROOT, SEED_V1, Backend, PgCluster, assert_graph_error,
                      location_block, make_service)

sys.path.insert(0, os.path.join(ROOT, "tests", "reliability"))
import load_with_faults as lf  # noqa: E402

# What a database that goes away makes the module and mod_dbd log at error
# (as tests/integration/test_reliability.py): the failed statement (RA00041)
# or connection (RA00040, mod_dbd's AH00629/AH00639/AH02655), a connection
# that could not be set up (RA00016), and each 503 answered (RA00030).
DATABASE_DOWN = ("RA00016", "RA00030", "RA00040", "RA00041", "AH00629", "AH00633",
                 "AH00636", "AH00639", "AH02655")

# RemoteAssistQueryTimeout's default: every PostgreSQL round trip, the
# commit's wait for the standby included, gets no longer on the client side.
QUERY_TIMEOUT = 1.0
CONNECT_TIMEOUT = 2.0   # failover_params(): per host
# The longest a request may take while the primary answers nothing: the
# statement's bound, then mod_dbd's reconnect (connect_timeout on the frozen
# host, a refusal from the read-only standby), with room for a loaded machine.
FROZEN_BOUND = QUERY_TIMEOUT + CONNECT_TIMEOUT + 2.0
STANDBY_LOST_BOUND = QUERY_TIMEOUT + 2.0

LOAD = lf.Settings(clients=4, rate=80, max_requests=5000, settle=2.0,
                   recovery_limit=lf.RECOVERY_BOUND + 5, request_timeout=15.0)


@contextlib.contextmanager
def primary_and_standby(workroot):
    """A primary and a synchronous standby (pg_basebackup -R)."""
    primary = PgCluster(workroot.mktemp("pg-primary"))
    primary.start()
    standby = None
    try:
        standby = primary.standby(workroot.mktemp("pg-standby"))
        primary.synchronous("*")
        yield primary, standby
    finally:
        for cluster in (standby, primary):
            if cluster:
                cluster.destroy()


@pytest.fixture(scope="module")
def replicated(workroot):
    """A pair the faults that leave it whole share (a freeze, a standby
    stopped and started): setting one up takes longer than most tests."""
    with primary_and_standby(workroot) as pair:
        yield pair


@pytest.fixture
def replicated_once(workroot):
    """A pair of the test's own, for a fault that ends the primary."""
    with primary_and_standby(workroot) as pair:
        yield pair


def node(workroot, keys, primary, standby, name, location_extra="", mpm="event"):
    """One httpd node whose DBDParams follow a promotion."""
    backend = Backend("pgsql", ("pgsql", primary.failover_params(standby)), primary)
    locations = location_block(f"/v1.0{COLLECTION}", "v1.0",
                               f'RemoteAssistTokenKey "{keys.path("jwks.json")}"',
                               location_extra)
    return make_service(workroot.mktemp(name), keys, backend, locations=locations, mpm=mpm)


def stored(cluster, prefix):
    return set(cluster.psql("SELECT id FROM remote_assistance_partners "
                            f"WHERE id LIKE '{prefix}-%'").split())


def run_load(svc, keys, fault, settings=LOAD, warmup=2.0):
    """Load, warmup s, fault() (returns what it did), until creates have
    succeeded again for settings.settle s. (records, fault start, fault end)."""
    prefix = f"f{uuid.uuid4().hex[:8]}"
    load = lf.Load(svc.url(), keys, prefix, settings).start()
    try:
        time.sleep(warmup)
        assert load.last_created > float("-inf"), "no create succeeded before the fault"
        fault_start = time.monotonic()
        fault()
        fault_end = time.monotonic()
        load.wait_settled(fault_end)
    finally:
        load.stop()
    return prefix, load.records, fault_start, fault_end


def assert_kept_promises(summary, records, fault_end, slowest):
    """What every fault must leave: no acknowledged id missing, only Graph
    503s with Retry-After, no request past its bound, creates back in time."""
    assert summary["ids_missing"] == 0, summary
    assert not summary["bad_5xx"] and not summary["other_answers"], summary
    assert not summary["connection_errors"], summary
    assert summary["refused_503"] > 0, "the fault refused nothing: it was not tested"
    assert summary["slowest_s"] <= slowest, summary
    recovery = lf.recovery_seconds(records, fault_end)
    assert recovery is not None and recovery <= lf.RECOVERY_BOUND, recovery


@pytest.mark.slow
@pytest.mark.expect_log(*DATABASE_DOWN)
def test_crash_and_promotion_lose_no_acknowledged_create(replicated_once, workroot, keys,
                                                         record_property):
    primary, standby = replicated_once
    svc = node(workroot, keys, primary, standby, "node-failover")

    def crash_and_promote():
        primary.stop("immediate")
        standby.promote()
    prefix, records, _, fault_end = run_load(svc, keys, crash_and_promote)
    children = svc.httpd.child_pids()
    svc.stop()

    summary = lf.summarize(records, stored(standby, prefix))
    for name in ("requests", "created", "refused_503", "slowest_s"):
        record_property(name, summary[name])
    record_property("recovery_s", lf.recovery_seconds(records, fault_end))
    assert_kept_promises(summary, records, fault_end, FROZEN_BOUND)
    assert children, "httpd had no children left"


@pytest.mark.slow
@pytest.mark.expect_log(*DATABASE_DOWN)
def test_a_frozen_primary_answers_503_within_the_bound(replicated, workroot, keys):
    primary, standby = replicated
    svc = node(workroot, keys, primary, standby, "node-frozen")

    def freeze():
        primary.freeze()
        time.sleep(4.0)
        primary.thaw()
    prefix, records, _, fault_end = run_load(svc, keys, freeze)
    svc.stop()
    primary.wait_replayed(standby)
    assert_kept_promises(lf.summarize(records, stored(primary, prefix)), records, fault_end,
                         FROZEN_BOUND)
    assert_kept_promises(lf.summarize(records, stored(standby, prefix)), records, fault_end,
                         FROZEN_BOUND)


@pytest.mark.slow
@pytest.mark.expect_log(*DATABASE_DOWN)
def test_a_lost_synchronous_standby_gets_503_and_no_201(replicated, workroot, keys):
    primary, standby = replicated
    svc = node(workroot, keys, primary, standby, "node-standby-lost")
    window = {}

    def lose_standby():
        standby.stop()
        window["from"] = time.monotonic()
        time.sleep(3.0)
        window["to"] = time.monotonic()
        standby.start()
    prefix, records, _, fault_end = run_load(svc, keys, lose_standby)
    svc.stop()
    # a create sent after the standby stopped and answered before it came
    # back could not have been replicated
    acknowledged_alone = [r for r in records if r.kind == lf.CREATED
                          and r.done - r.took > window["from"] and r.done < window["to"]]
    assert not acknowledged_alone, acknowledged_alone[:5]
    primary.wait_replayed(standby)
    assert_kept_promises(lf.summarize(records, stored(standby, prefix)), records, fault_end,
                         STANDBY_LOST_BOUND)
    assert "RA00101" in svc.log()


def post(svc, token, pid):
    return requests.post(svc.url(), json=dict(SEED_V1, id=pid),
                         headers={"Authorization": f"Bearer {token}"}, timeout=60)


def cancel_the_wait(primary, pending, timeout=20):
    """pg_cancel_backend on the backend waiting for synchronous replication,
    once one does, as an administrator (or a statement timeout) would."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not pending.done():
        if primary.psql("SELECT count(pg_cancel_backend(pid)) FROM pg_stat_activity "
                        "WHERE wait_event = 'SyncRep'") != "0":
            return
        time.sleep(0.05)
    pytest.fail(f"no backend waited for the standby: {pending.result()}")


@pytest.mark.slow
def test_a_cancelled_replication_wait_gets_no_201_until_replicated(replicated, workroot,
                                                                   keys):
    primary, standby = replicated
    # a bound longer than the test, so the cancel, not the bound, ends the wait
    svc = node(workroot, keys, primary, standby, "node-cancelled",
               location_extra="    RemoteAssistQueryTimeout 60000")
    token, pid = keys.token(), f"cancelled-{uuid.uuid4().hex[:8]}"
    standby.stop()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        for attempt in range(2):  # the create, then a client's retry with the same id
            pending = pool.submit(post, svc, token, pid)
            cancel_the_wait(primary, pending)
            resp = pending.result()
            assert_graph_error(resp, 503, "ServiceNotAvailable")
            assert resp.headers["Retry-After"].isdigit()
            # committed on the primary all the same, as PostgreSQL warned
            assert primary.psql(f"SELECT count(*) FROM remote_assistance_partners "
                                f"WHERE id = '{pid}'") == "1", attempt
    standby.start()
    resp = post(svc, token, pid)
    # now the row is on the standby, the retry learns that it is stored
    assert resp.status_code == 409, resp.text
    assert standby.psql(f"SELECT count(*) FROM remote_assistance_partners "
                        f"WHERE id = '{pid}'") == "1"
    assert svc.log().count("RA00101") == 2
    svc.stop()


# prefork's one worker busy: AH00161
@pytest.mark.slow
@pytest.mark.expect_log(*DATABASE_DOWN, "AH00161")
def test_a_restarted_server_costs_no_503(own_pg, workroot, keys):
    """Pooled connections that PostgreSQL closed (a restart, a failover) are
    opened again within the request: the statement runs once more on a
    fresh connection, so no client sees the dead one."""
    backend = Backend("pgsql", ("pgsql", own_pg.dbd_params), own_pg)
    svc = make_service(workroot.mktemp("node-restart"), keys, backend,
                       mpm="prefork", mpm_config="StartServers 1\nMinSpareServers 1\n"
                                                 "MaxSpareServers 1\nMaxRequestWorkers 1")
    token = keys.token()
    # one child, one pooled connection, used and idle
    assert post(svc, token, f"before-{uuid.uuid4().hex[:8]}").status_code == 201
    own_pg.restart()
    statuses = [post(svc, token, f"after-{n}-{uuid.uuid4().hex[:8]}").status_code
                for n in range(3)]
    svc.stop()
    assert statuses == [201, 201, 201]


@pytest.mark.parametrize("params, missing", [
    ("", ["connect_timeout", "keepalives_idle", "tcp_user_timeout"]),
    ("connect_timeout=2", ["keepalives_idle", "tcp_user_timeout"]),
    ("connect_timeout=2 keepalives_idle=5 tcp_user_timeout=5000", []),
])
def test_unbounded_dbdparams_are_warned_about(pg, workroot, keys, params, missing):
    from conftest import Httpd
    httpd = Httpd(workroot.mktemp("configtest-bounds"), ("pgsql", f"{pg.dbd_params} {params}"),
                  f'RemoteAssistTokenKey "{keys.path("jwks.json")}"')
    code, out = httpd.configtest()
    assert code == 0, out
    warned = [line for line in out.splitlines() if "RA00100" in line]
    if not missing:
        assert not warned, warned
        return
    assert len(warned) == 1, out
    for keyword in missing:
        assert keyword in warned[0]
    assert "docs/deploy.md" in warned[0]
