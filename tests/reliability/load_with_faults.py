"""Bounded load with one injected fault, and what it left behind.

The driver behind `make reliability` (tests/reliability/run.py) and the
CI-sized tests/integration/test_reliability.py. run_scenario() starts a
private httpd (the integration suite's make_service) on SQLite or PostgreSQL
under the event or prefork MPM, runs concurrent clients that create partners
with ids of their own choosing, injects one fault from SCENARIOS while they
run, waits until creates have succeeded again for a while, then looks up in
the database every id that got a 201. problems() names the promises a result
breaks. Every phase is bounded in time, the load also in count; traffic goes
to 127.0.0.1 only.
"""
import collections
import contextlib
import dataclasses
import errno
import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid

import requests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "integration"))
from conftest import (SEED_V1, Backend, assert_graph_error, make_service,  # noqa: E402
                      sqlite_db)
from httpd_harness import give_to_run_user  # noqa: E402  (conftest put tools/ on the path)

# A client that honours the module's `Retry-After: 5` retries 5 s after a
# 503; creates must work again by then, so that retry is the last one needed.
RECOVERY_BOUND = 5.0

# Debian 12's own mods-available/mpm_*.conf: what a site runs unless tuned.
MPM_CONFIG = {
    "event": "StartServers 2\nMinSpareThreads 25\nMaxSpareThreads 75\nThreadLimit 64\n"
             "ThreadsPerChild 25\nMaxRequestWorkers 150\nMaxConnectionsPerChild 0",
    "prefork": "StartServers 5\nMinSpareServers 5\nMaxSpareServers 10\n"
               "MaxRequestWorkers 150\nMaxConnectionsPerChild 0",
}
# The harness makes every mutex a lock file; Debian's apache2.conf leaves
# Mutex unset, so the SQLite writer mutex is the module's default, a file
# lock too (fcntl), which the kernel frees when a child holding it is killed.
# (It was APR's default, a robust pthread mutex, until a graceful restart was
# seen to leave it destroyed under an old child: mod_ra_startup.c.)
SITE_CONFIG = ""
CRASH_MARKERS = ("AH00051", "AH00052")  # a child died of a signal httpd did not send
# httpd's parent reaps and logs a dead child within its one-second maintenance
# loop: the run's log is read that long after the load, before the stop.
REAP_WAIT = 1.1
SEVERE_LEVELS = (":crit]", ":alert]", ":emerg]")  # reported in the table, not judged


@dataclasses.dataclass
class Settings:
    clients: int = 8
    rate: float = 0.0            # creates per second over all clients; 0: as fast as they go
    max_requests: int = 100_000  # the count bound of one run
    before: float = 5.0          # seconds of load before the fault
    settle: float = 10.0         # failure-free seconds after the fault that end the run
    recovery_limit: float = 60.0  # the longest wait for those, from the end of the fault
    outage: float = 8.0          # seconds PostgreSQL stays stopped
    hold: float = 5.0            # seconds the disk stays full once it refused a create
    bite_limit: float = 15.0     # the longest wait for a full disk to refuse a create
    restarts: int = 3            # graceful restarts, `restart_gap` seconds apart
    restart_gap: float = 1.0
    request_timeout: float = 10.0
    lag: float = 1.0             # seconds an asynchronous standby is held behind


# ----------------------------------------------------------------- the load

CREATED, REFUSED, BAD_5XX, OTHER_ANSWER, NO_ANSWER = (
    "201", "503", "other 5xx", "other answer", "connection error")


def classify(resp):
    """(kind, detail) of an answer: a 5xx must be a Graph 503 with Retry-After."""
    if resp.status_code == 201:
        return CREATED, ""
    if resp.status_code < 500:
        return OTHER_ANSWER, str(resp.status_code)
    try:
        assert_graph_error(resp, 503, "ServiceNotAvailable")
        assert resp.headers.get("Retry-After", "").isdigit(), "no Retry-After"
    except (AssertionError, ValueError, KeyError) as e:
        return BAD_5XX, f"{resp.status_code}: {str(e).splitlines()[0][:120]}"
    return REFUSED, ""


def connection_error_kind(exc):
    text = repr(exc)
    for marker, kind in (("Timeout", "timeout"), ("RemoteDisconnected", "closed, no answer"),
                         ("Connection reset", "reset"), ("BrokenPipe", "broken pipe"),
                         ("Connection refused", "refused")):
        if marker in text:
            return kind
    return type(exc).__name__


@dataclasses.dataclass
class Request:
    id: str
    done: float
    kind: str
    detail: str
    took: float = 0.0  # seconds from sending to the answer (or the error)


class Load:
    """Clients that create partners with their own ids on keep-alive
    connections (a new one after a connection error) until stopped."""

    def __init__(self, url, keys, prefix, settings):
        self.url, self.keys, self.prefix, self.s = url, keys, prefix, settings
        self.records = []
        self.last_failure = self.last_created = float("-inf")
        self._issued = itertools.count()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._client, args=(n,), daemon=True)
                         for n in range(settings.clients)]

    def start(self):
        for t in self._threads:
            t.start()
        return self

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(self.s.request_timeout + 5)

    @property
    def running(self):
        return any(t.is_alive() for t in self._threads)

    def _client(self, n):
        headers = {"Authorization": f"Bearer {self.keys.token()}",
                   "Content-Type": "application/json"}
        interval = self.s.clients / self.s.rate if self.s.rate else 0.0
        session, next_at = requests.Session(), time.monotonic()
        for seq in itertools.count():
            if self._stop.is_set() or next(self._issued) >= self.s.max_requests:
                break
            pid = f"{self.prefix}-{n}-{seq}"
            sent = time.monotonic()
            try:
                kind, detail = classify(session.post(
                    self.url, data=json.dumps(dict(SEED_V1, id=pid, displayName=pid)),
                    headers=headers, timeout=self.s.request_timeout))
            except requests.RequestException as e:
                kind, detail = NO_ANSWER, connection_error_kind(e)
                session.close()
                session = requests.Session()
            done = time.monotonic()
            self.records.append(Request(pid, done, kind, detail, done - sent))
            if kind == CREATED:
                self.last_created = done
            else:
                self.last_failure = done
            if interval:
                next_at += interval
                self._stop.wait(max(0.0, next_at - time.monotonic()))
        session.close()

    def wait_for_failure(self, since, limit):
        """Whether a create failed after `since`, waiting at most `limit` s."""
        deadline = time.monotonic() + limit
        while self.last_failure < since and time.monotonic() < deadline and self.running:
            time.sleep(0.05)
        return self.last_failure >= since

    def wait_settled(self, fault_end):
        """Until creates have succeeded for `settle` s with no failure since
        the fault ended, or `recovery_limit` s have passed."""
        deadline = fault_end + self.s.recovery_limit
        while time.monotonic() < deadline and self.running:
            calm_since = max(fault_end, self.last_failure)
            if self.last_created > calm_since and time.monotonic() - calm_since >= self.s.settle:
                return
            time.sleep(0.1)


def recovery_seconds(records, fault_end):
    """From the end of the fault to the first 201 after the last failure;
    None when no create succeeded after the last failure."""
    last_failure = max((r.done for r in records if r.kind != CREATED), default=float("-inf"))
    after = [r.done for r in records if r.kind == CREATED and r.done > last_failure]
    return max(0.0, min(after) - fault_end) if after else None


# ------------------------------------------------------------------ faults

@dataclasses.dataclass
class Site:
    """What a fault acts on."""
    httpd: object
    backend: Backend
    load: Load
    s: Settings
    standby: object = None  # PgCluster: the primary's standby, in a replicated run


def established(pid, port):
    """How many client connections to `port` the process `pid` holds open."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return 0
    inodes = set()
    for fd in fds:
        with contextlib.suppress(OSError):
            inodes.add(os.readlink(f"/proc/{pid}/fd/{fd}").removeprefix("socket:[").rstrip("]"))
    with open("/proc/net/tcp") as f:
        rows = [line.split() for line in f.readlines()[1:]]
    # local address (hex ip:port), state 01 = ESTABLISHED, inode
    return sum(1 for r in rows if r[1].endswith(f":{port:04X}") and r[3] == "01"
               and r[9] in inodes)


RESPAWN_WAIT = 2.0  # httpd's idle-server maintenance runs once a second


def kill_children(count):
    """kill -9 of the child holding the most client connections (the oldest
    of equals), `count` times; between kills, waits up to RESPAWN_WAIT s for
    the MPM to start a new child (prefork may not: it keeps spares, not a count)."""
    def inject(site):
        seen, killed, respawns = [], 0, 0
        for i in range(count):
            alive = site.httpd.child_pids()
            seen += [p for p in alive if p not in seen]
            victims = sorted((p for p in seen if p in alive),
                             key=lambda p: -established(p, site.httpd.port))
            if not victims:
                break
            os.kill(victims[0], signal.SIGKILL)
            killed += 1
            if i == count - 1:
                break
            deadline = time.monotonic() + RESPAWN_WAIT
            while time.monotonic() < deadline:
                if any(p not in seen for p in site.httpd.child_pids()):
                    respawns += 1
                    break
                time.sleep(0.05)
        return f"{killed} killed" + (f"; a new child appeared after {respawns} of {count - 1}"
                                     if count > 1 else "")
    return inject


def kill_committers(count):
    """kill -9 of the child committing a batch of creates, `count` times: on
    SQLite the holder of the database's write lock, which commits for every
    child (docs/development.md, "The shared commit queue"). Looks for one up
    to RESPAWN_WAIT s each time."""
    def inject(site):
        killed, children = 0, set()
        for _ in range(count):
            deadline = time.monotonic() + RESPAWN_WAIT
            while time.monotonic() < deadline:
                pid = site.backend.sqlite_writer()
                if pid and pid not in children:  # pgrep takes milliseconds: not in between
                    children = set(site.httpd.child_pids())
                elif pid:
                    os.kill(pid, signal.SIGKILL)
                    killed += 1
                    break
                else:
                    time.sleep(0.0005)
        return f"{killed} of {count} committing children killed"
    return inject


def graceful_restarts(site):
    for i in range(site.s.restarts):
        if i:
            time.sleep(site.s.restart_gap)
        site.httpd.graceful()
    return f"{site.s.restarts} × SIGUSR1, {site.s.restart_gap:g} s apart"


def pg_restart(site):
    site.backend.pg.restart()
    return "pg_ctl restart -m fast"


def pg_outage(site):
    site.backend.pg.stop()
    time.sleep(site.s.outage)
    site.backend.pg.start()
    return f"pg_ctl stop -m fast, {site.s.outage:g} s, pg_ctl start"


# Replicated PostgreSQL (docs/deploy.md, "Failover to a PostgreSQL standby"):
# each run gets a primary and a standby of its own (replicated_pair), whose
# DBDParams name both with target_session_attrs=read-write.

def pg_failover(site):
    """The primary crashes and the standby is promoted; rows are then read
    from the new primary."""
    site.backend.pg.stop("immediate")
    site.standby.promote()
    site.backend.pg = site.standby
    return "pg_ctl stop -m immediate on the primary, pg_ctl promote on the standby"


def pg_failover_lagging(site):
    """Asynchronous replication with the standby behind: the primary's WAL
    sender is stopped (SIGSTOP) for `lag` s while the primary goes on
    acknowledging, then killed, which crashes the primary (the postmaster
    ends every process when one dies), then pg_ctl stop -m immediate and
    the standby is promoted. What the primary acknowledged meanwhile never
    left it: the loss window measured. (Freezing the standby instead loses
    nothing: the WAL waits in its socket buffer, and it replays it before
    the promotion.)"""
    primary = site.backend.pg
    sender = int(primary.psql("SELECT pid FROM pg_stat_replication"))
    os.kill(sender, signal.SIGSTOP)
    time.sleep(site.s.lag)
    os.kill(sender, signal.SIGKILL)
    primary.stop("immediate")
    site.standby.promote()
    site.backend.pg = site.standby
    return (f"asynchronous; the primary's WAL sender stopped {site.s.lag:g} s, then killed "
            "(a crash), pg_ctl stop -m immediate, pg_ctl promote on the standby")


def pg_freeze(site):
    site.backend.pg.freeze()
    time.sleep(site.s.outage)
    site.backend.pg.thaw()
    return f"SIGSTOP to every process of the primary, {site.s.outage:g} s, SIGCONT"


def pg_standby_lost(site):
    site.standby.stop()
    time.sleep(site.s.outage)
    site.standby.start()
    return f"the synchronous standby stopped (pg_ctl stop -m fast), {site.s.outage:g} s, started"


@contextlib.contextmanager
def replicated_pair(workdir, synchronous):
    """(primary, standby) of a run's own, destroyed after it."""
    from pg_cluster import PgCluster
    primary = PgCluster(os.path.join(workdir, "pg-primary"))
    primary.start()
    standby = None
    try:
        standby = primary.standby(os.path.join(workdir, "pg-standby"))
        if synchronous:
            primary.synchronous("*")
        yield primary, standby
    finally:
        for cluster in (standby, primary):
            if cluster:
                cluster.destroy()


def hold_until_refused(site, since):
    """Keeps a fault in place until a create failed, then `hold` s more."""
    if not site.load.wait_for_failure(since, site.s.bite_limit):
        return f"no create failed within {site.s.bite_limit:g} s"
    time.sleep(site.s.hold)
    return f"held {site.s.hold:g} s after the first refusal"


class Unavailable(Exception):
    """The machine does not allow the scenario (said in the report)."""


TMPFS_BYTES = 64 << 20


@contextlib.contextmanager
def db_on_tmpfs(backend):
    """The SQLite directory on a small tmpfs of its own. A loop-mounted
    image is not tried instead: it needs the same mount privilege."""
    path = os.path.dirname(backend.dbd[1])
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_BYTES},mode=0755",
                        "tmpfs", path], capture_output=True, text=True)
    if p.returncode:
        said = (p.stderr or p.stdout or "no message").strip().splitlines()[0]
        raise Unavailable(f"mount -t tmpfs refused: {said}")
    try:
        give_to_run_user(path)
        yield
    finally:
        if subprocess.run(["umount", path], capture_output=True).returncode:
            subprocess.run(["umount", "-l", path], capture_output=True)


def fill(path):
    """Writes a file until the filesystem has no byte left."""
    with open(path, "wb", buffering=0) as f:
        for chunk in (1 << 20, 4096, 1):
            try:
                while True:
                    f.write(b"\0" * chunk)
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise


def disk_full_fs(site):
    db = site.backend.dbd[1]
    filler = os.path.join(os.path.dirname(db), "filler")
    start = time.monotonic()
    with contextlib.closing(sqlite3.connect(db, timeout=5)) as conn:
        # an emptied WAL must grow on the next commit, so the full disk bites at once
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    fill(filler)
    held = hold_until_refused(site, start)
    os.unlink(filler)
    return f"tmpfs of {TMPFS_BYTES >> 20} MiB filled, {held}, filler removed"


def disk_full_simulated(site):
    """SQLITE_FULL, a full disk's error, through a page limit on every new
    pooled connection (max_page_count never drops below the database's
    current size, so 1 means: no new page). Set and lifted by graceful restarts."""
    httpd, start = site.httpd, time.monotonic()
    plain = httpd.extra_config
    httpd.extra_config = plain + '\nDBDInitSQL "PRAGMA max_page_count = 1"'
    httpd.write_config()
    httpd.graceful()
    held = hold_until_refused(site, start)
    httpd.extra_config = plain
    httpd.write_config()
    httpd.graceful()
    return (f"simulated: DBDInitSQL PRAGMA max_page_count, {held}, "
            "lifted by a graceful restart")


@dataclasses.dataclass
class Scenario:
    name: str
    fault: str
    backends: tuple
    inject: object
    must_refuse: bool = False  # the fault is one that refuses creates: it must have
    environment: object = None  # a context manager around the site, given its Backend
    replication: str = ""      # "sync" or "async": a primary and a standby of the run's own
    request_bound: float = 0.0  # the longest a request may take (0: not judged)
    loses: bool = False        # acknowledged ids may be lost (async): counted, not judged
    # a write may be committed without the module knowing it was replicated
    # (the database crashed before it answered, the bound cut its wait
    # short): answered 503 and maybe stored; counted, not judged
    in_doubt: bool = False
    ci: bool = True            # also in `make test`'s CI-sized run (test_reliability.py)


BOTH = ("sqlite", "pgsql")
SCENARIOS = [
    Scenario("kill-1", "kill -9 of one child", BOTH, kill_children(1)),
    Scenario("kill-8", "kill -9 of eight children in a row, as they respawn", BOTH,
             kill_children(8)),
    Scenario("kill-committer", "kill -9 of the child committing a batch, three times",
             ("sqlite",), kill_committers(3)),
    Scenario("graceful", "graceful restarts (SIGUSR1)", BOTH, graceful_restarts),
    Scenario("pg-restart", "PostgreSQL restarted", ("pgsql",), pg_restart),
    Scenario("pg-outage", "PostgreSQL stopped, then started", ("pgsql",), pg_outage,
             must_refuse=True),
    Scenario("disk-full", "the SQLite filesystem full, then space freed", ("sqlite",),
             disk_full_fs, must_refuse=True, environment=db_on_tmpfs),
    Scenario("disk-full-simulated", "SQLITE_FULL (simulated disk full), then lifted",
             ("sqlite",), disk_full_simulated, must_refuse=True),
    # with a standby; RemoteAssistQueryTimeout 1 s and connect_timeout 2 s per
    # host bound a request to a frozen primary (test_postgresql_failover.py)
    Scenario("pg-failover", "the primary crashes, the synchronous standby is promoted",
             ("pgsql",), pg_failover, must_refuse=True, replication="sync",
             request_bound=5.0, in_doubt=True, ci=False),
    Scenario("pg-failover-async", "the primary crashes with an asynchronous standby held "
             "behind, which is promoted", ("pgsql",), pg_failover_lagging, must_refuse=True,
             replication="async", request_bound=5.0, loses=True, in_doubt=True, ci=False),
    # a write the bound cut short may be committed on the primary (and later
    # replicated): answered 503, in doubt until a retry settles it
    Scenario("pg-freeze", "the primary frozen (SIGSTOP), then thawed", ("pgsql",), pg_freeze,
             must_refuse=True, replication="sync", request_bound=5.0, in_doubt=True,
             ci=False),
    Scenario("pg-standby-lost", "the synchronous standby stopped, then started", ("pgsql",),
             pg_standby_lost, must_refuse=True, replication="sync", request_bound=3.0,
             in_doubt=True, ci=False),
]
BY_NAME = {s.name: s for s in SCENARIOS}


# ------------------------------------------------------------------ a run

def stored_ids(backend, prefix):
    return {row[0] for row in backend.rows(
        f"SELECT id FROM remote_assistance_partners WHERE id LIKE '{prefix}-%'")}


def run_scenario(scenario, backend_name, mpm, settings, keys, workdir, pg=None):
    """One run: a fresh httpd, the load, the fault, the checks. A dict for
    JSON; 'not_run' says why when the machine does not allow the scenario."""
    result = {"backend": backend_name, "mpm": mpm, "scenario": scenario.name,
              "fault": scenario.fault}
    prefix = f"{backend_name}-{mpm}-{scenario.name}-{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    standby = None
    with contextlib.ExitStack() as stack:
        if scenario.replication:
            pg, standby = stack.enter_context(
                replicated_pair(workdir, scenario.replication == "sync"))
            backend = Backend("pgsql", ("pgsql", pg.failover_params(standby)), pg)
        else:
            backend = (Backend("pgsql", ("pgsql", pg.dbd_params), pg)
                       if backend_name == "pgsql" else Backend("sqlite", sqlite_db(workdir)))
        try:
            if scenario.environment:
                stack.enter_context(scenario.environment(backend))
        except Unavailable as e:
            return dict(result, not_run=str(e))
        svc = make_service(workdir, keys, backend, mpm=mpm, mpm_config=MPM_CONFIG[mpm],
                           extra_config=SITE_CONFIG, log_level="notice")
        stack.callback(svc.httpd.stop)
        load = Load(svc.url(), keys, prefix, settings).start()
        stack.callback(load.stop)
        time.sleep(settings.before)
        fault_start = time.monotonic()
        note = scenario.inject(Site(svc.httpd, backend, load, settings, standby))
        fault_end = time.monotonic()
        load.wait_settled(fault_end)
        load.stop()
        time.sleep(REAP_WAIT)
        parent_alive = svc.httpd.proc.poll() is None
        if standby and backend.pg is not standby:
            # the primary served on: an acknowledged id must be on the standby too
            backend.pg.wait_replayed(standby)
            backend.pg = standby
        stored = stored_ids(backend, prefix)  # before the tmpfs, if any, goes
        log_of_run = svc.httpd.read_log()
    # The stop (SIGTERM) is not part of the run; what it logs is reported apart.
    log_of_stop = svc.httpd.read_log()[len(log_of_run):]
    records = load.records
    return dict(result, **summarize(records, stored), **log_findings(log_of_run, log_of_stop),
                note=note,
                fault_seconds=round(fault_end - fault_start, 2),
                recovery_s=recovery_seconds(records, fault_end),
                capped=len(records) >= settings.max_requests,
                parent_alive=parent_alive, must_refuse=scenario.must_refuse,
                request_bound=scenario.request_bound, loses=scenario.loses,
                in_doubt=scenario.in_doubt,
                seconds=round(time.monotonic() - started, 1), error_log=svc.httpd.error_log)


def log_findings(log_of_run, log_of_stop):
    def lines(log, markers):
        return [line for line in log.splitlines() if any(m in line for m in markers)]
    crashes, at_stop = lines(log_of_run, CRASH_MARKERS), lines(log_of_stop, CRASH_MARKERS)
    severe = lines(log_of_run, SEVERE_LEVELS)
    return {"child_crashes": len(crashes), "crash_lines": crashes[:5],
            "crashes_at_stop": len(at_stop), "crash_at_stop_lines": at_stop[:5],
            "severe_log_lines": len(severe), "severe_sample": severe[:3]}


def summarize(records, stored):
    by_kind = collections.Counter(r.kind for r in records)
    created = {r.id for r in records if r.kind == CREATED}
    unanswered = {r.id for r in records if r.kind == NO_ANSWER}
    refused = {r.id for r in records if r.kind == REFUSED}
    missing = sorted(created - stored)

    def details(kind):
        return dict(collections.Counter(r.detail for r in records if r.kind == kind))
    return {"requests": len(records), "created": len(created),
            "slowest_s": round(max((r.took for r in records), default=0.0), 2),
            "rows_found": len(created & stored), "ids_missing": len(missing),
            "missing_sample": missing[:5], "refused_503": by_kind[REFUSED],
            "bad_5xx": details(BAD_5XX), "other_answers": details(OTHER_ANSWER),
            "connection_errors": details(NO_ANSWER),
            "unanswered_stored": len(unanswered & stored),
            "refused_but_stored": sorted(refused & stored)[:5],
            "refused_stored": len(refused & stored)}


def problems(result, recovery_bound=RECOVERY_BOUND):
    """The promises a run's result breaks; empty when it kept them all."""
    if "not_run" in result:
        return []
    found = []

    def check(broken, text):
        if broken:
            found.append(text)
    check(result["ids_missing"] and not result.get("loses"),
          f"{result['ids_missing']} ids answered 201 are not stored, "
          f"e.g. {result['missing_sample']}")
    check(result.get("request_bound") and result["slowest_s"] > result["request_bound"],
          f"a request took {result['slowest_s']} s (bound {result['request_bound']} s)")
    check(result["bad_5xx"], f"5xx that are not a Graph 503 with Retry-After: {result['bad_5xx']}")
    check(result["other_answers"], f"unexpected answers: {result['other_answers']}")
    check(result["refused_but_stored"] and not result.get("in_doubt"),
          f"ids answered 503 are stored, e.g. {result['refused_but_stored']}")
    check(result["child_crashes"], f"child crashes: {result['crash_lines']}")
    check(not result["parent_alive"], "the httpd parent exited")
    check(result["created"] == 0, "no create succeeded")
    check(result["must_refuse"] and not result["refused_503"],
          f"the fault refused no create, so it was not tested ({result['note']})")
    recovery = result["recovery_s"]
    check(recovery is None, "creates did not succeed again before the load ended")
    check(recovery is not None and recovery > recovery_bound,
          f"recovery took {recovery} s (bound {recovery_bound} s)")
    return found
