"""`make bench`'s cells: everything a run starts and measures.

Settings (the BENCH_* knobs, see bench/bench.py), the helpers that run a command
and meter CPU, and Bench, whose steps start the private PostgreSQL cluster and
the httpd servers on 127.0.0.1, run each cell (wrk, pgbench, the C baselines),
and keep its numbers in Bench.results and its line in Bench.rows for the goals
(bench/goals.py) and the report (bench/report.py).
"""
import contextlib
import datetime
import hashlib
import json
import math
import os
import platform
import re
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import devserver  # noqa: E402  (SEED_BODY: the seed's example request)
import httpd_harness  # noqa: E402
import mint_token  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, rsa  # noqa: E402
from pg_cluster import PgCluster  # noqa: E402
import statements  # noqa: E402  (bench/statements.py: the module's SQL as scripts)
from goals import (BATCH_GOAL, CREATE_GOALS, FEATURE_GOALS, FLOOD_P99_GOAL,  # noqa: E402
                   LARGE_P99_GOAL, MIX_P99_GOAL, OPERATION_GOALS, judged_conns, ratio_fmt)

BUILD = os.path.join(ROOT, "build", "bench")
WORK = os.path.join(ROOT, os.environ.get("BENCH_WORKDIR") or os.path.join(BUILD, "run"))
LOGS = os.path.join(WORK, "logs")
LUA = os.path.join(ROOT, "bench", "wrk_report.lua")
MINIMAL_SO = os.path.join(BUILD, ".libs", "mod_bench_minimal.so")
# the module's schema as the Makefile builds it from sql/schema.sql
SCHEMA = {"sqlite": os.path.join(ROOT, "build", "schema-sqlite.sql"),
          "pgsql": os.path.join(ROOT, "build", "schema-pgsql.sql")}
# Findings from investigating goals that were not met, written by hand and
# copied into every report (they say when and how they were measured).
NOTES = os.path.join(ROOT, "bench", "NOTES.md")
COLLECTION = "/v1.0" + httpd_harness.COLLECTION

# The mpm of a real site (and of the baseline's two-children rows).
MPM = """
StartServers 2
ServerLimit 2
ThreadsPerChild 64
ThreadLimit 64
MaxRequestWorkers 128
MinSpareThreads 64
MaxSpareThreads 192
MaxConnectionsPerChild 0"""

# mod_dbd's pool per child: one connection per worker thread at most, so
# ap_dbd_acquire never waits; kept, so no cell pays for reconnecting.
DBD_POOL = """
DBDMin 1
DBDKeep 64
DBDMax 64"""

# Diagnostic row: the same 128 threads in one child.
MPM_ONE_CHILD = """
StartServers 1
ServerLimit 1
ThreadsPerChild 128
ThreadLimit 128
MaxRequestWorkers 128
MinSpareThreads 64
MaxSpareThreads 192
MaxConnectionsPerChild 0"""
DBD_POOL_ONE_CHILD = """
DBDMin 1
DBDKeep 128
DBDMax 128"""

ROW_RAW = "raw SQLite insert loop (C), WAL, synchronous="
ROW_PGBENCH = "pgbench -M prepared, the module's INSERT, same table"
ROW_STATIC = "static GET, 400-byte file"
ROW_MINIMAL = "minimal POST handler (bench/), 201 + 400 B, flush"
ROW_CREATE_SQLITE = "create, SQLite (WAL, synchronous FULL), 2 children"
ROW_CREATE_SQLITE_1 = "diagnostic: the same creates, 1 child × 128 threads"
ROW_CREATE_PGSQL = "create, PostgreSQL (apr_dbd_pgsql), 2 children"
ROW_FEATURE = "On ÷ Off:"
ROW_RAW_SHIPPED = "shipped config: raw SQLite insert loop (C), WAL, synchronous=FULL, on a copy"
ROW_CREATE_SHIPPED = "shipped config: create, SQLite"
ROW_LARGE = "large data set:"
# the second A of a judged ratio's A-B-A: its baseline's row run again right
# after the module's cell (Bench.baseline_again)
AGAIN = " (again, after the module's cell)"
LARGE_TENANTS = 10000  # the large data set's tenants (issue 20)
LARGE_BASE_ROWS = 10000  # the database its p99s are compared with
# The mixed load (issue 20): its tenants, each with this many partners (a list
# is a full page and a nextLink), and the shares of get, list, PATCH, the
# actions and create (wrk_report.lua BENCH_MIX).
MIX_TENANTS = 1000
MIX_PARTNERS = 110
MIX_SHARES = "40 40 8 7 5"
MIX_SHARES_TEXT = "40 % get, 40 % list, 8 % PATCH, 7 % actions, 5 % create"
MIX_GETS_ONLY = "100 0 0 0 0"
BATCH_SIZE = 20  # the largest $batch Graph accepts (issue 19)
ROW_MIX = "mixed load, 1,000 tenants"
ROW_BATCH = "20 creates in one $batch ÷ 20 separate creates"


class Feature:
    """A feature on the request path, costed in section 9 as On ÷ Off: two
    servers alike but for the feature's lines (server level, and inside each
    <Location> of the collection), run in turn On, Off, On, ... (A-B-A) for
    each kind of request in kinds ("create", "get", "list", "patch"). Adding a
    feature's row is one entry in FEATURES, its goal a number in
    bench/goals.py FEATURE_GOALS under the same key."""

    def __init__(self, key, label, on_server="", off_server="", on_location="",
                 off_location="", kinds=("create", "get")):
        self.key, self.label, self.kinds = key, label, kinds
        self.server = {"On": on_server, "Off": off_server}
        self.location = {"On": on_location, "Off": off_location}

    def row(self, kind):
        return f"{ROW_FEATURE} {self.label}, SQLite, 2 children, {kind}"


# The features costed On ÷ Off. Signed skip tokens join here as they land.
# Throttling On has the limits every cell runs with (never reached: the
# check alone is costed).
FEATURES = [
    Feature("metrics", "metrics (RemoteAssistMetrics)", off_server="RemoteAssistMetrics Off"),
    # an audit event per change, in the change's own transaction: creates and
    # PATCHes (the reads write none)
    Feature("audit", "audit events (RemoteAssistAuditEvents)",
            off_server="RemoteAssistAuditEvents Off", kinds=("create", "patch")),
    Feature("throttle", "throttling (RemoteAssistThrottle)",
            off_server="RemoteAssistThrottle Off"),
]
ROW_SKIPTOKEN = "signed $skiptoken: made + verified, query unit (1 thread)"
ROW_FLOOD = "another tenant's get p99 during a throttled flood ÷ alone, SQLite"
# The flood's limits: writes as Intune's defaults, reads never reached: the
# noisy tenant's creates run into their limit while the quiet tenant's gets
# stay under theirs.
FLOOD_LIMITS = """RemoteAssistThrottleLimit app write 2000 20
RemoteAssistThrottleLimit tenant write 4000 20"""

# What a site has after `apt install` of the package and a2enmod: Debian's
# mods-available/mpm_event.conf (read from the machine when it is there) and
# apache2.conf's keep-alive settings; conf/remoteassist.conf leaves the pool
# to mod_dbd's compiled-in defaults (its DBD lines are commented out), so the
# pool is those defaults, written out because the harness writes its own.
DEBIAN_MPM_EVENT_CONF = "/etc/apache2/mods-available/mpm_event.conf"
DEBIAN_MPM_EVENT = """
StartServers 2
MinSpareThreads 25
MaxSpareThreads 75
ThreadLimit 64
ThreadsPerChild 25
MaxRequestWorkers 150
MaxConnectionsPerChild 0"""
MOD_DBD_DEFAULT_POOL = """
DBDMin 1
DBDKeep 2
DBDMax 10
DBDExptime 300"""
DEBIAN_KEEPALIVE = """
MaxKeepAliveRequests 100
KeepAliveTimeout 5"""


def debian_mpm_event():
    """The mpm_event settings of Debian's package, from the installed file."""
    try:
        with open(DEBIAN_MPM_EVENT_CONF) as f:
            lines = [ln.strip() for ln in f if ln.strip() and not ln.lstrip().startswith(("#", "<"))]
        return "\n" + "\n".join(lines) if lines else DEBIAN_MPM_EVENT
    except OSError:
        return DEBIAN_MPM_EVENT

# Tenants (the tokens' tid): creates go to one, the reads and updates run on
# the other, which holds exactly OPS_ROWS partners with ids OPS_FIRST, ...
CREATE_TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
OPS_TENANT = "5d0b6c1e-3f2a-4e8b-9c47-1a2b3c4d5e6f"
OPS_FIRST = 100000
BENCH_APP = "0bf1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d"
LIST_TOP = 100
LIST_QUERY = f"$top={LIST_TOP}"
PATCH_BODY = '{"displayName": "Display Name patched"}'


class Operation:
    """A read or update of the resource, and the raw loop of the statements
    the module runs for it (bench/statements.py builds their scripts)."""

    def __init__(self, kind, label, method, raw, mode, by_id, body=None):
        self.kind, self.label, self.method, self.raw = kind, label, method, raw
        self.mode = mode  # pgbench -M: the module prepares fixed statements once
        self.by_id = by_id  # a random one of the tenant's ids per request
        self.body = body
        self.writes = method == "PATCH"

    def path(self):
        return COLLECTION if self.by_id else f"{COLLECTION}?{LIST_QUERY}"

    def raw_row(self):
        sync = ", WAL, synchronous=FULL" if self.writes else ""
        return f"raw SQLite loop (C), {self.raw}{sync}"

    def pgbench_row(self):
        return f"pgbench -M {self.mode}, {self.raw}"

    def row(self, backend):
        return f"{self.label}, {backend}, 2 children"


OPERATIONS = [
    Operation("get", "get by id (GET .../{id})", "GET",
              "the module's get statement (SELECT by tenant and id)", "prepared", True),
    Operation("list", f"list page of 100 (GET ...?{LIST_QUERY})", "GET",
              "the SQL the module generates for that page", "extended", False),
    Operation("patch", "PATCH one property (displayName)", "PATCH",
              "the module's get + replace statements", "prepared", True, "patch.json"),
]
PG_SETTINGS = ["max_connections=300"]  # 2 children x DBDMax 64, plus pgbench's 64


def env_number(name, default, kind=int):
    value = os.environ.get(name, "").strip()
    return kind(value) if value else default


class Settings:
    def __init__(self):
        self.seconds = env_number("BENCH_SECONDS", 10, float)
        self.conns = [int(c) for c in os.environ.get("BENCH_CONNS", "1 16 64").split()]
        self.memory_requests = env_number("BENCH_MEMORY_REQUESTS", 200000)
        self.memory_conns = env_number("BENCH_MEMORY_CONNS", 16)
        self.memory_seconds = env_number("BENCH_MEMORY_SECONDS", 300, float)
        self.ops_rows = env_number("BENCH_OPS_ROWS", 3000)
        # get, list and PATCH run at 1 and 16 connections (of those asked for): at
        # 64 the two cores are as saturated as at 16, and the run stays near 12 min
        self.ops_conns = [c for c in self.conns if c in (1, 16)] or self.conns
        # a feature's On and Off alternate On, Off, On, ...: this many On runs
        self.feature_repeats = env_number("BENCH_FEATURE_REPEATS",
                                          env_number("BENCH_METRICS_REPEATS", 3))
        # rows of the shipped configuration's database before its cells
        self.shipped_rows = env_number("BENCH_SHIPPED_ROWS", 100000)
        # the large data set's partners (issue 20 names 10,000,000; 1,000,000 keep
        # the default run's time and disk in reason), cached under build/bench/cache/
        self.large_rows = env_number("BENCH_LARGE_ROWS", 1000000)
        # more settings of the run's PostgreSQL cluster ("shared_buffers=1GB ..."),
        # after PG_SETTINGS; the default run uses PostgreSQL's own defaults
        self.pg_settings = os.environ.get("BENCH_PG_SETTINGS", "").split()
        # the connections of the large data set's reads
        self.read_conns = 16 if 16 in self.conns else self.conns[-1]
        # the steps to run (bench/bench.py STEPS), all by default
        self.steps = os.environ.get("BENCH_STEPS", "").replace(",", " ").split()
        self.openssl_seconds = env_number("BENCH_OPENSSL_SECONDS", 3)
        # waiting for other load to pass: at most this long in all, and this many repeats
        self.quiet_budget = env_number("BENCH_QUIET_BUDGET", 240, float)
        self.retries = env_number("BENCH_RETRIES", 8)
        self.output = os.path.join(ROOT, os.environ.get("BENCH_OUTPUT", "docs/BENCHMARKS.md"))

    def secs(self):
        s = self.seconds
        return str(int(s)) if s == int(s) else str(s)


class CellError(Exception):
    pass


# ------------------------------------------------------------------ helpers

COMMANDS = []  # (what, command line) in the order they ran, for the report


def shown(args, env=None):
    parts = [f"{k}={shlex.quote(v)}" for k, v in (env or {}).items()]
    return " ".join(parts + [shlex.quote(str(a)) for a in args])


def run(what, args, log, env=None, timeout=600, cwd=None, shown_env=None, until=None):
    """Runs a command to completion; its output goes to logs/<log>. With until,
    a function polled while it runs, the command gets SIGINT once until() is true
    (wrk then stops and prints its summary)."""
    display = shown(args, shown_env if shown_env is not None else env)
    COMMANDS.append((what, display))
    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.Popen([str(a) for a in args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=full_env, cwd=cwd)
    deadline = time.monotonic() + timeout
    try:
        if until:
            while proc.poll() is None and not until():
                if time.monotonic() > deadline:
                    raise subprocess.TimeoutExpired(args, timeout)
                time.sleep(0.05)
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=max(1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired as e:
        proc.kill()
        proc.communicate()
        raise CellError(f"{args[0]} did not finish in {timeout} s") from e
    except BaseException:  # a stopped run (SIGTERM) leaves no wrk or openssl behind
        proc.kill()
        proc.communicate()
        raise
    with open(os.path.join(LOGS, log), "w") as f:
        f.write(f"$ {display}\n{stdout}")
        if stderr:
            f.write("\n--- stderr ---\n" + stderr)
    if proc.returncode != 0:
        raise CellError(f"{os.path.basename(str(args[0]))} exited {proc.returncode}: "
                        f"{(stderr or stdout).strip()[-300:]}")
    return stdout


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, int(p / 100.0 * len(sorted_values)))
    return sorted_values[i]


def proc_table():
    """pid -> (ppid, utime+stime+cutime+cstime jiffies) of every process."""
    table = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            table[int(name)] = (int(fields[1]), sum(int(x) for x in fields[11:15]))
    return table


def tree(table, roots):
    """pid -> jiffies of roots and all their descendants."""
    children = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found, stack = {}, list(roots)
    while stack:
        pid = stack.pop()
        if pid in table and pid not in found:
            found[pid] = table[pid][1]
            stack.extend(children.get(pid, []))
    return found


def tree_delta(before, after):
    """CPU of a process tree between two snapshots. A member that exited was reaped
    by another member, whose cutime now holds all of its time: take off its part
    from before the first snapshot."""
    return (sum(v - before.get(p, 0) for p, v in after.items())
            - sum(v for p, v in before.items() if p not in after))


def machine_jiffies():
    """(user+nice+system, all busy) jiffies of the machine (/proc/stat)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return v[0] + v[1] + v[2], sum(v) - v[3] - v[4]


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


HZ = os.sysconf("SC_CLK_TCK")


class Meter:
    """CPU during a cell, in % of one core (200 % = both cores): the machine, the
    server processes, and "other": what processes outside this benchmark (and
    outside the kernel's threads) used. The machine is shared; a cell with
    other load is waited for and repeated once (see Bench.attempt)."""

    def __init__(self, roots, server_pids=()):
        self.roots, self.server_pids = roots, list(server_pids)
        self.t0 = time.monotonic()
        self.m0 = machine_jiffies()
        table = proc_table()
        self.mine0, self.kernel0 = tree(table, roots), tree(table, [2])
        self.server0 = {p: table[p][1] for p in self.server_pids if p in table}

    def stop(self):
        elapsed = time.monotonic() - self.t0
        m1 = machine_jiffies()
        table = proc_table()
        mine = tree_delta(self.mine0, tree(table, self.roots))
        kernel = tree_delta(self.kernel0, tree(table, [2]))
        server = sum(table[p][1] - v for p, v in self.server0.items() if p in table)
        scale = 100.0 / HZ / max(elapsed, 1e-3)
        return {"all": (m1[1] - self.m0[1]) * scale, "server": server * scale,
                "other": max(0, m1[0] - self.m0[0] - mine - kernel) * scale,
                "seconds": elapsed}


def fmt(value, digits=None):
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if isinstance(value, float) and math.isnan(value):
        return "n/a"
    if digits is None:
        if isinstance(value, int) or abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.2f}" if abs(value) >= 1 else f"{value:.3f}"
    return f"{value:.{digits}f}"


# -------------------------------------------------------------------- rows

class Row:
    """One line of the table. rate: ops/s; latencies in ms."""

    def __init__(self, section, name, conns, **kw):
        self.section, self.name, self.conns = section, name, conns
        self.rate = kw.get("rate")
        self.p50 = kw.get("p50")
        self.p99 = kw.get("p99")
        self.p999 = kw.get("p999")
        self.unexpected = kw.get("unexpected")
        self.rows_added = kw.get("rows_added")
        self.ratio = kw.get("ratio")
        self.notes = kw.get("notes", "")
        self.error = kw.get("error")

    def cells(self):
        if self.error:
            return [self.section, self.name, str(self.conns), "error", "", "", "", "", "",
                    "", self.error.replace("|", "/")]
        ratio = self.ratio or "—"
        return [self.section, self.name, str(self.conns), fmt(self.rate), fmt(self.p50),
                fmt(self.p99), fmt(self.p999), fmt(self.unexpected), fmt(self.rows_added),
                ratio, self.notes]


# ----------------------------------------------------------------- bench

class Bench:
    # Another session's tests on the same 2 cores distort a cell: wait for quiet
    # (other load under QUIET % of a core) before each cell, and repeat a cell
    # once when other load reached RETRY % while it ran.
    QUIET, RETRY = 10.0, 20.0

    def __init__(self, settings):
        self.s = settings
        self.rows = []
        self.errors = []
        self.pg = None
        self.servers = []
        self.info = {}
        self.results = {}  # (kind, conns) -> dict, for the ratios
        self.quiet_budget = settings.quiet_budget
        self.retries_left = settings.retries
        self.disturbed = []
        self.written = {}  # backend -> a partner the module stored from the create body

    # ---- set-up

    def prepare(self):
        marker = os.path.join(WORK, ".bench-workdir")
        if os.path.exists(WORK):
            if not os.path.exists(marker):
                raise CellError(f"{WORK} exists and is not a bench work directory: not wiping it")
            shutil.rmtree(WORK)
        os.makedirs(LOGS)
        open(marker, "w").close()
        os.chmod(WORK, 0o755)  # httpd's User and postgres walk through here
        key_dir = os.path.join(WORK, "keys")
        os.makedirs(key_dir)
        os.chmod(key_dir, 0o755)
        self.keys = {}
        for alg, key in (("RS256", rsa.generate_private_key(public_exponent=65537,
                                                             key_size=2048)),
                         ("ES256", ec.generate_private_key(ec.SECP256R1()))):
            private = os.path.join(key_dir, f"{alg}.pem")
            public = os.path.join(key_dir, f"{alg}.pub.pem")
            with open(private, "wb") as f:
                f.write(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
            with open(public, "wb") as f:
                f.write(key.public_key().public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
            os.chmod(public, 0o644)
            # minted once, valid for the whole run, reused by every request
            # as Graph's tokens, they name their application: the throttle
            # check charges the tenant's bucket and the application's
            token = mint_token.mint(private, alg=alg, lifetime=6 * 3600, tid=CREATE_TENANT,
                                    extra={"appid": BENCH_APP})
            token_file = os.path.join(key_dir, f"{alg}.token")
            with open(token_file, "w") as f:
                f.write(token + "\n")
            self.keys[alg] = (public, token_file, token)
            if alg == "RS256":
                self.rs256_key = key  # the mixed load mints a token per tenant
                self.ops_token = mint_token.mint(private, alg=alg, lifetime=6 * 3600,
                                                 tid=OPS_TENANT, extra={"appid": BENCH_APP})
        self.token = self.keys["RS256"][2]
        self.bodies = {}
        for name, text in (("create.json", devserver.SEED_BODY),
                           # the seed's body cut short: invalid JSON, same size
                           ("malformed.json", devserver.SEED_BODY.rstrip()[:-1]),
                           ("patch.json", PATCH_BODY)):
            path = os.path.join(WORK, name)
            with open(path, "w") as f:
                f.write(text)
            self.bodies[name] = path
        # the module returns a page and reads one row more to know whether
        # another follows (src/mod_ra_read.c); trace_module_sql checks it does
        self.sql = statements.module_sql(os.path.join(BUILD, "module_sql"), OPS_TENANT,
                                         LIST_QUERY, min(LIST_TOP, page_size()) + 1)
        # Every server of the run loads this copy: a rebuild of .libs/ while the
        # run goes on (make all elsewhere in the tree) cannot mix two versions.
        self.module = os.path.join(WORK, "mod_remoteassist.so")
        shutil.copy(httpd_harness.DEFAULT_MODULE, self.module)
        os.chmod(self.module, 0o755)

    def collect_info(self):
        def out(args):
            try:
                return subprocess.run(args, capture_output=True, text=True,
                                      timeout=30).stdout.strip()
            except (OSError, subprocess.TimeoutExpired):
                return "?"

        cpu = "?"
        for line in out(["lscpu"]).splitlines():
            if line.startswith("Model name:"):
                cpu = line.split(":", 1)[1].strip()
        mem = "?"
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
        packages = ["apache2", "libapr1", "libaprutil1", "libaprutil1-dbd-sqlite3",
                    "libaprutil1-dbd-pgsql", "libsqlite3-0", "postgresql-15", "libjansson4",
                    "libcjose0", "libssl3", "wrk"]
        versions = out(["dpkg-query", "-W", "-f", "${Package} ${Version}\\n"] + packages)
        dirty = out(["git", "-C", ROOT, "status", "--porcelain", "--", "mod_remoteassist.c",
                     "src", "include", "sql"])
        changed = sorted({line[3:] for line in dirty.splitlines()})
        # systemd-detect-virt guesses (docker, bhyve) on this kind of guest
        with open("/proc/cpuinfo") as f:
            guest = ("virtual machine (cpuinfo flag hypervisor)" if " hypervisor" in f.read()
                     else "none detected")
        with open(self.module, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()[:12]
        built = datetime.datetime.fromtimestamp(
            os.path.getmtime(httpd_harness.DEFAULT_MODULE)).astimezone().strftime("%H:%M %Z")
        self.info = {
            "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
            "cpu": f"{cpu}, {os.cpu_count()} vCPU", "memory": mem,
            "kernel": platform.release(),
            "virtualization": guest,
            "disk": out(["findmnt", "-no", "SOURCE,FSTYPE", "-T", WORK]),
            "httpd": out(["/usr/sbin/apache2", "-v"]).splitlines()[0].split(":", 1)[-1].strip(),
            "openssl": out(["openssl", "version"]),
            "packages": versions.replace("\n", ", "),
            "wrk": re.sub(r".*\s(\S+)$", r"\1", out(["dpkg-query", "-W", "wrk"])),
            "commit": out(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"])
            + (" + uncommitted changes in " + ", ".join(changed) if changed else ""),
            "module": f"sha256 {digest}…, built {built}",
        }

    # ---- shared machine: other load

    def roots(self):
        roots = [os.getpid()]
        if self.pg:
            try:
                with open(os.path.join(self.pg.data, "postmaster.pid")) as f:
                    roots.append(int(f.readline()))
            except (OSError, ValueError):
                pass
        return roots

    def wait_quiet(self, limit=30.0):
        """Waits (within the run's budget) until other processes use < QUIET %."""
        waited = 0.0
        while self.quiet_budget > 0 and waited < limit:
            meter = Meter(self.roots())
            time.sleep(0.5)
            if meter.stop()["other"] < self.QUIET:
                return
            waited += 0.5
            self.quiet_budget -= 0.5

    def attempt(self, label, cell, server=None):
        """Runs cell() -> dict once, or twice when other load disturbed it; the dict
        gets the CPU figures of its run."""
        for n in (1, 2):
            self.wait_quiet()
            meter = Meter(self.roots(), [server.proc.pid] + server.child_pids() if server
                          else [])
            d = cell()
            d["cpu"] = meter.stop()
            if d["cpu"]["other"] < self.RETRY or n == 2 or self.retries_left <= 0:
                if d["cpu"]["other"] >= self.RETRY:
                    self.disturbed.append(f"{label}: other load {d['cpu']['other']:.0f}%")
                d["cpu"]["repeated"] = n == 2
                return d
            self.retries_left -= 1
            print(f"bench: {label}: other processes used {d['cpu']['other']:.0f}% of a core; "
                  "repeating", flush=True)

    @staticmethod
    def cpu_note(d, server=True):
        c = d["cpu"]
        note = (f"cpu httpd {c['server']:.0f}% / all {c['all']:.0f}%" if server
                else f"cpu all {c['all']:.0f}%")
        if c["other"] >= 5:
            note += f", other {c['other']:.0f}%"
        if c.get("repeated"):
            note += " (repeated)"
        return note

    # ---- section 5: token verification (CPU only: first, with nothing else running)

    def verify(self):
        secs = self.s.openssl_seconds
        args = [os.path.join(BUILD, "verify_speed"), secs]
        for alg in ("RS256", "ES256"):
            public, token_file, _ = self.keys[alg]
            args += [alg, public, token_file]

        def unit():
            text = run("token unit verifies/s (bench/verify_speed.c)", args,
                       "verify_speed.txt", timeout=secs * 4 + 60)
            return {d["alg"]: d for d in map(json.loads, text.splitlines())}

        def openssl():
            text = run("openssl verify/s", ["openssl", "speed", "-seconds", secs, "rsa2048",
                                            "ecdsap256"], "openssl_speed.txt",
                       timeout=secs * 8 + 60)
            m = re.search(r"^rsa\s+2048 bits\s+\S+\s+\S+\s+([\d.]+)\s+([\d.]+)", text, re.M)
            n = re.search(r"256 bits ecdsa \(nistp256\)\s+\S+\s+\S+\s+([\d.]+)\s+([\d.]+)", text)
            if not m or not n:
                raise CellError("openssl speed output not understood (see logs)")
            return {"RS256": float(m.group(2)), "ES256": float(n.group(2))}

        try:
            mine = self.attempt("token unit verify", unit)
        except (CellError, ValueError, KeyError) as e:
            mine = {}
            self.errors.append(f"verify_speed: {e}")
        try:
            speed = self.attempt("openssl speed", openssl)
        except CellError as e:
            speed = {}
            self.errors.append(f"openssl speed: {e}")
        for alg, openssl_name in (("RS256", "openssl speed rsa2048 verify"),
                                  ("ES256", "openssl speed ecdsap256 verify")):
            name = f"{alg} verify, token unit (1 thread)"
            cached_name = f"{alg} cached token check, token unit (1 thread)"
            if alg in mine:
                rate = mine[alg]["per_sec"]
                ratio = rate / speed[alg] if alg in speed else float("nan")
                goal = " (≥ 0.8)" if alg == "RS256" else ""
                self.rows.append(Row("5", name, "-", rate=rate,
                                     ratio=f"÷ openssl {fmt(ratio, 2)}{goal}",
                                     notes=f"first sight: {mine[alg]['token_bytes']}-byte "
                                           f"token, signature + claims; "
                                           f"{self.cpu_note(mine, False)}"))
                cached_us = 1e6 / mine[alg]["cached_per_sec"]
                goal = " (≤ 2 µs)" if alg == "RS256" else ""
                self.rows.append(Row("5", cached_name, "-", rate=mine[alg]["cached_per_sec"],
                                     ratio=f"{cached_us:.2f} µs per check{goal}",
                                     notes="the token in a child's cache (RemoteAssistTokenCache "
                                           "1024): time, audience, issuer checked, no signature"))
                self.results[("verify", alg)] = {"rate": rate, "ratio": ratio,
                                                 "cached_us": cached_us}
            else:
                self.rows.append(Row("5", name, "-", error="verify_speed failed"))
                self.rows.append(Row("5", cached_name, "-", error="verify_speed failed"))
            if alg in speed:
                self.rows.append(Row("5", openssl_name, "-", rate=speed[alg],
                                     notes=f"-seconds {secs}, 1 thread; "
                                           f"{self.cpu_note(speed, False)}"))
            else:
                self.rows.append(Row("5", openssl_name, "-", error="openssl speed failed"))

    def skiptoken_cost(self):
        """The signed $skiptoken's cost (issue 20, item 5: every feature on the
        request path costed in the same run). No directive turns the signature
        off, as a site must never serve unsigned tokens, so there is no Off
        server to run: bench/skiptoken_speed.c times the token's steps in the
        module's own query unit, and the row sets what signing adds to a page
        that continues a list (verifying its token, and making the next one,
        whose HMAC is a part of the make: an upper bound) against the httpd CPU
        per page of the SQLite list cell at the most connections the reads ran
        at (16 in a full run), run just before. With httpd's CPU the bound,
        that gives On ÷ Off ≈ 1 - signing ÷ page."""
        secs = self.s.openssl_seconds
        conns = max(self.s.ops_conns)

        def unit():
            return json.loads(run("$skiptoken made, parsed, verified per second "
                                  "(bench/skiptoken_speed.c)",
                                  [os.path.join(BUILD, "skiptoken_speed"), secs, LIST_QUERY],
                                  "skiptoken_speed.txt", timeout=secs * 5 + 60))
        try:
            d = self.attempt("skiptoken_speed", unit)
        except (CellError, ValueError, OSError) as e:
            self.fail_rows("9", [ROW_SKIPTOKEN], "-", e)
            return
        make_us, verify_us = 1e6 / d["make_per_sec"], 1e6 / d["verify_per_sec"]
        decode_us = 1e6 / d["parse_with_token_per_sec"] - 1e6 / d["parse_alone_per_sec"]
        signing_us = make_us + verify_us
        page = self.results.get(("list-sqlite", conns))
        pages = page["statuses"].get(200, 0) if page else 0
        ratio = "no list cell to set it against"
        if pages:
            page_us = page["cpu"]["server"] / 100 * page["cpu"]["seconds"] * 1e6 / pages
            estimate = 1 - signing_us / page_us
            self.results[("skiptoken",)] = {"ratio": estimate, "signing_us": signing_us,
                                            "page_us": page_us, "conns": conns}
            ratio = (f"On ÷ Off ≈ {estimate:.3f} (no goal): {signing_us:.2f} µs ÷ the list "
                     f"page's httpd CPU, {page_us:.0f} µs at {conns}")
        self.rows.append(Row("9", ROW_SKIPTOKEN, "-", rate=1e6 / signing_us, ratio=ratio,
                             notes=f"per continued page: made {make_us:.2f} µs (JSON, HMAC-SHA256, "
                                   f"base64url; {d['token_chars']} characters), verified "
                                   f"{verify_us:.2f} µs; parsing the token beside the query "
                                   f"{decode_us:.2f} µs more, signed or not; "
                                   f"{self.cpu_note(d, False)}"))

    # ---- the databases, as the bench reads them between cells

    def db_rows(self, target, sql):
        """A query's rows as dicts, on a SQLite file (target: its path) or on the
        PostgreSQL cluster (target "pgsql", or "pgsql:<database>" for another
        database than the cluster's own). sql holds only the bench's constants."""
        if target == "pgsql" or target.startswith("pgsql:"):
            return json.loads(self.pg.psql(f"SELECT coalesce(json_agg(q), '[]') FROM ({sql}) q",
                                           target.partition(":")[2] or None))
        with contextlib.closing(sqlite3.connect(target, timeout=60)) as db:
            db.row_factory = sqlite3.Row
            return [dict(r) for r in db.execute(sql)]

    def count(self, target):
        return self.db_rows(target, "SELECT count(*) AS n FROM remote_assistance_partners")[0]["n"]

    def etags(self, target):
        """id -> ETag of the partners the reads and updates run on."""
        return {r["id"]: r["etag"] for r in self.db_rows(
            target, f"SELECT id, etag FROM remote_assistance_partners "
                    f"WHERE tenant_id = '{OPS_TENANT}'")}

    def changed_since(self, target, etags):
        now = self.etags(target)
        return sum(1 for i, e in etags.items() if now.get(i) != e)

    @staticmethod
    def new_sqlite_db(path):
        """An empty database of the module's schema, in WAL as the module keeps it."""
        with open(SCHEMA["sqlite"]) as f:
            schema = f.read()
        with contextlib.closing(sqlite3.connect(path)) as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(schema)
        return path

    # ---- section 1: database baselines, running the module's statements
    # (bench/statements.py) on SQLite (bench/sqlite_script.c) and PostgreSQL
    # (pgbench): results[(kind, conns)] and a row each

    def baseline_cell(self, name, kind, conns, command, target, changed):
        """Runs command(log) -> dict with rate and sorted latencies in ms; adds the
        rows the target gained and, for an update, how many partners changed."""
        def cell():
            db = target() if callable(target) else target
            before = self.count(db)
            etags = self.etags(db) if changed else None
            d = command(db)
            d["rows_added"] = self.count(db) - before
            d["changed"] = self.changed_since(db, etags) if changed else None
            return d
        try:
            d = self.attempt(f"{name} at {conns}", cell)
        except (CellError, subprocess.CalledProcessError, ValueError, sqlite3.Error) as e:
            self.fail_rows("1", [name], conns, e)
            return None
        self.results[(kind, conns)] = d
        return d

    def baseline_row(self, name, conns, d, notes):
        if d is None:
            return
        if d["changed"] is not None:
            notes.append(f"partners changed {d['changed']:,}")
        notes.append(self.cpu_note(d, False))
        self.rows.append(Row("1", name, conns, rate=d["rate"], p50=d["p50"], p99=d["p99"],
                             p999=d["p999"], unexpected=d["failed"], rows_added=d["rows_added"],
                             notes="; ".join(notes)))

    def sqlite_baseline(self, name, kind, conns, script, target, note, threads=1, sync="FULL",
                        mode="prepared", rows_per_query=None, changed=False):
        """bench/sqlite_script.c on target (a path, or a function making a fresh
        file per attempt) with threads connections."""
        path = script.write(os.path.join(WORK, f"sqlite-{kind}.sql"))

        def command(db):
            d = json.loads(run(name, [os.path.join(BUILD, "sqlite_script"), db, sync,
                                      self.s.secs(), threads, path, "-M", mode]
                               + script.sqlite_args(), f"sqlite-{kind}-{threads}.txt",
                               timeout=self.s.seconds + 120))
            if rows_per_query and d["rows_read"] != rows_per_query * d["iterations"]:
                raise CellError(f"{d['rows_read']:,} rows in {d['iterations']:,} queries, "
                                f"not {rows_per_query} each")
            self.info["sqlite"] = d["sqlite"]
            return dict(d, rate=d["per_sec"], p50=d["p50_ms"], p99=d["p99_ms"],
                        p999=d["p999_ms"], failed=0)
        d = self.baseline_cell(name, kind, conns, command, target, changed)
        self.baseline_row(name, conns, d, [note])

    def raw_sqlite(self, script):
        """The module's INSERT, into a fresh file each, at both synchronous levels."""
        for sync in ("FULL", "NORMAL"):
            files = iter(range(1, 100))  # a repeated cell starts from an empty file too

            def fresh(sync=sync, files=files):
                return self.new_sqlite_db(os.path.join(WORK, f"raw-{sync}-{next(files)}.db"))
            self.sqlite_baseline(f"{ROW_RAW}{sync}", f"raw-{sync}", 1, script, fresh,
                                 "one connection (SQLite has one writer)", sync=sync)

    def start_pg(self):
        settings = PG_SETTINGS + self.s.pg_settings
        self.pg = PgCluster(os.path.join(WORK, "pg"), settings=settings)
        COMMANDS.append(("private PostgreSQL cluster (tools/pg_cluster.py)",
                         f"initdb -A trust; pg_ctl start -o '-p {self.pg.port} "
                         f"-c listen_addresses=127.0.0.1 "
                         + " ".join(f"-c {s}" for s in settings) + "'"))
        self.pg.start()
        with open(SCHEMA["pgsql"]) as f:
            self.pg.psql(f.read())
        self.info["postgresql"] = self.pg.psql("SHOW server_version")

    def pgbench(self, name, kind, conns, script, mode="prepared", changed=False):
        """pgbench at one connection count, right before the module's cell."""
        path = script.write(os.path.join(WORK, f"pgbench-{kind}.sql"))
        logdir = os.path.join(LOGS, f"pgbench-{kind}-{conns}")
        args = (["pgbench", "-n", "-M", mode, "-f", path] + script.pgbench_args()
                + ["-c", conns, "-j", min(2, conns), "-T", self.s.secs(), "-l", "--log-prefix",
                   os.path.join(logdir, "pgbench_log"), "-h", "127.0.0.1", "-p", self.pg.port,
                   "-U", "postgres", self.pg.database])

        def command(db):
            shutil.rmtree(logdir, ignore_errors=True)
            os.makedirs(logdir)
            text = run(f"pgbench {kind} at {conns} connections", args,
                       f"pgbench-{kind}-{conns}.txt", timeout=self.s.seconds + 120)
            m = re.search(r"tps = ([\d.]+) \(without initial connection time\)", text)
            failed = re.search(r"number of failed transactions: (\d+)", text)
            if not m:
                raise CellError("pgbench printed no tps")
            lat = []
            for log in os.listdir(logdir):
                with open(os.path.join(logdir, log)) as f:
                    lat.extend(int(line.split()[2]) / 1000.0 for line in f if line.strip())
            shutil.rmtree(logdir)  # a line per transaction: keep the summary only
            lat.sort()
            return {"rate": float(m.group(1)), "tx": len(lat), "p50": percentile(lat, 50),
                    "p99": percentile(lat, 99), "p999": percentile(lat, 99.9),
                    "failed": int(failed.group(1)) if failed else 0}
        d = self.baseline_cell(name, kind, conns, command, "pgsql", changed)
        self.baseline_row(name, conns, d, [f"{d['tx']:,} tx; -j {min(2, conns)}"] if d else [])

    # ---- the HTTP servers

    def start_httpd(self, backend, mpm=MPM, dbd_pool=DBD_POOL, children=2, extra_config="",
                    location_config="", sqlite_file=None, mpm_module="event", pg_database=None):
        """An httpd on 127.0.0.1; location_config goes into each collection's
        <Location>, a SQLite server starts on a copy of sqlite_file when given,
        a PostgreSQL one on pg_database when given (else the cluster's own)."""
        workdir = os.path.join(WORK, f"httpd-{backend}")
        target = "pgsql"
        if backend.startswith("sqlite"):
            db = httpd_harness.sqlite_db(workdir)
            target = db[1]
            if sqlite_file:
                shutil.copy(sqlite_file, db[1])
                httpd_harness.give_to_run_user(db[1])
        elif pg_database:
            db = ("pgsql", self.pg.dbd_params.replace(f"dbname={self.pg.database}",
                                                       f"dbname={pg_database}"))
            target = f"pgsql:{pg_database}"
        else:
            db = ("pgsql", self.pg.dbd_params)
        extra = f"""LoadModule bench_minimal_module {MINIMAL_SO}
{dbd_pool}
# the static row: no mmap per request (see the notes: on this VM it costs a
# cross-CPU TLB flush per request in a 64-thread child)
EnableMMAP off
<Location "/bench-minimal">
    SetHandler bench-minimal
</Location>
# the create rows read the group commits' sizes here (commit_batches)
<Location "/remoteassist-metrics">
    SetHandler remoteassist-metrics
</Location>
{extra_config}"""
        key = f'RemoteAssistTokenKey "{self.keys["RS256"][0]}"'
        server = httpd_harness.Httpd(
            workdir, db, key + (f"\n    {location_config}" if location_config else ""),
            module=self.module, preload="", mpm=mpm_module, mpm_config=mpm,
            extra_config=extra, log_level="warn")
        server.backend, server.target = backend, target
        # the static file: the minimal handler's 400-byte document
        with open(os.path.join(workdir, "htdocs", "partner.json"), "w") as f:
            f.write(minimal_body())
        self.servers.append(server)
        server.start()
        COMMANDS.append((f"httpd ({backend}), generated by tools/httpd_harness.py",
                         f"/usr/sbin/apache2 -f {os.path.relpath(server.conf, ROOT)} "
                         "-DFOREGROUND"))
        shutil.copy(server.conf, os.path.join(LOGS, f"httpd-{backend}.conf"))
        for _ in range(50):
            if len(server.child_pids()) == children:
                return server
            time.sleep(0.1)
        raise CellError(f"httpd ({backend}) has {len(server.child_pids())} children, "
                        f"not {children}")

    def stop_httpd(self, server):
        if os.path.exists(server.error_log):
            shutil.copy(server.error_log,
                        os.path.join(LOGS, f"httpd-{server.backend}-error.log"))
        server.stop()
        self.servers.remove(server)

    @staticmethod
    def target(server):
        """The database a server stores in, for db_rows."""
        return server.target

    def count_rows(self, server):
        return self.count(self.target(server))

    def settled_count(self, server):
        """The row count once the creates a previous cell left in flight (wrk
        stops without waiting for them) have committed: two equal readings."""
        last = self.count_rows(server)
        for _ in range(20):
            time.sleep(0.1)
            now = self.count_rows(server)
            if now == last:
                return now
            last = now
        return last

    @staticmethod
    def commit_batches(server):
        """(rows, commits) of the server's group commits of creates so far,
        from its remoteassist_commit_batch_rows histogram; None where the
        metrics are off (the metrics' Off rows) or cannot be read."""
        import requests
        try:
            text = requests.get(f"http://127.0.0.1:{server.port}/remoteassist-metrics",
                                timeout=10).text
        except requests.RequestException:
            return None
        got = dict(re.findall(r"^remoteassist_commit_batch_rows_(sum|count) (\d+)$", text,
                              re.MULTILINE))
        return (int(got["sum"]), int(got["count"])) if len(got) == 2 else None

    @staticmethod
    def db_failures(server):
        """('database is locked' messages, insert failures) in the error log so far."""
        log = server.read_log()
        return log.count("database is locked"), log.count("RA00041") + log.count("RA00040")

    def sanity(self, server):
        """One request per route before the load: each answers what the table assumes."""
        import requests
        checks = [("POST", COLLECTION, self.bearer(), "create.json", 201),
                  ("POST", COLLECTION, "Bearer not-a-jwt", "create.json", 401),
                  ("DELETE", COLLECTION, self.bearer(), None, 405),
                  ("POST", COLLECTION, self.bearer(), "malformed.json", 400),
                  ("GET", "/partner.json", None, None, 200),
                  ("POST", "/bench-minimal", None, "create.json", 201)]
        for method, path, auth, body, want in checks:
            headers = {"Content-Type": "application/json"} if body else {}
            if auth:
                headers["Authorization"] = auth
            data = None
            if body:
                with open(self.bodies[body], "rb") as f:
                    data = f.read()
            r = requests.request(method, server.base + path, headers=headers, data=data,
                                 timeout=30)
            if r.status_code != want:
                raise CellError(f"{method} {path} answered {r.status_code}, not {want}: "
                                f"{r.text[:200]}")

    def bearer(self):
        return f"Bearer {self.token}"

    def ops_bearer(self):
        return f"Bearer {self.ops_token}"

    def wrk(self, server, path, conns, method="GET", body=None, auth=None, seconds=None,
            stop_after=0, what="", ids=None, mix=None):
        """wrk with bench/wrk_report.lua; mix: BENCH_MIX's shares, over the
        mixed load's tenants (mixed_load)."""
        seconds = seconds or self.s.seconds
        threads = min(2, conns)
        secs = str(int(seconds)) if seconds == int(seconds) else str(seconds)
        args = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{secs}s", "--timeout", "10s",
                "--latency", "-s", LUA, server.base + path]
        marker = os.path.join(WORK, "wrk-stopped-")
        for t in range(1, threads + 1):
            if os.path.exists(marker + str(t)):
                os.unlink(marker + str(t))
        env = {"BENCH_METHOD": method, "BENCH_BODY_FILE": self.bodies[body] if body else "",
               "BENCH_AUTH": auth or "", "BENCH_STOP_AFTER": str(stop_after),
               "BENCH_STOP_MARKER": marker if stop_after else ""}
        if ids:
            env["BENCH_ID_FIRST"], env["BENCH_ID_COUNT"] = str(ids[0]), str(ids[1])
        if mix:
            env.update(BENCH_MIX=mix, BENCH_MIX_TOKENS=self.mix_tokens, BENCH_MIX_LIST=LIST_QUERY,
                       BENCH_MIX_CREATE=self.bodies["create.json"],
                       BENCH_MIX_PATCH=self.bodies["patch.json"])
        show = {k: (os.path.relpath(v, ROOT) if k.startswith("BENCH_MIX_") and "/" in v else v)
                for k, v in env.items() if v and v != "0"}
        if auth in (self.bearer(), self.ops_bearer()):
            show["BENCH_AUTH"] = "Bearer $TOKEN" if auth == self.bearer() else "Bearer $OPS_TOKEN"
        if body:
            show["BENCH_BODY_FILE"] = os.path.relpath(self.bodies[body], ROOT)
        if stop_after:
            show["BENCH_STOP_MARKER"] = os.path.relpath(marker, ROOT)
        log = f"wrk-{server.backend}-{re.sub(r'[^a-z0-9]+', '-', what.lower())}-{conns}.txt"
        until = None
        if stop_after:
            def until():
                return all(os.path.exists(marker + str(t)) for t in range(1, threads + 1))
        text = run(what, args, log, env=env, shown_env=show, timeout=seconds + 120, until=until)
        m = re.search(r"^BENCH-RESULT (.*)$", text, re.M)
        if not m:
            raise CellError("wrk printed no result (see logs/" + log + ")")
        d = {k: float(v) for k, v in (kv.split("=") for kv in m.group(1).split())}
        d["statuses"] = {int(a): int(b) for a, b in
                         re.findall(r"^BENCH-STATUS (\d+) (\d+)$", text, re.M)}
        d["responses"] = sum(d["statuses"].values())
        d["rate"] = d["requests"] / (d["duration_us"] / 1e6) if d["duration_us"] else 0.0
        d["socket_errors"] = int(d["connect_errors"] + d["read_errors"] + d["write_errors"]
                                 + d["timeouts"])
        return d

    def http_row(self, section, name, kind, server, path, conns, want, method="GET",
                 body=None, auth=None, count_rows=False, ratio=None, ids=None, changed=False,
                 warm_up=False):
        """One wrk cell: a row with rate, latencies, unexpected statuses; with
        changed, how many of the tenant's partners the cell changed; for
        creates, the group commits' mean size (rows ÷ commits in the cell);
        with warm_up, the same requests first, unmeasured (warm_up_cell):
        reads, and PostgreSQL's creates (create_row); not the PATCH rows, whose
        count of partners changed is the cell's own."""
        creates = count_rows and want == 201

        def cell():
            # after a warm-up of creates, once those it left in flight committed
            count = self.settled_count if warm_up and creates else self.count_rows
            before = count(server) if count_rows else None
            etags = self.etags(self.target(server)) if changed else None
            failures0 = self.db_failures(server)
            batches0 = self.commit_batches(server) if creates else None
            d = self.wrk(server, path, conns, method, body, auth, what=name, ids=ids)
            d["locked"], d["failed"] = (x - y for x, y in
                                        zip(self.db_failures(server), failures0))
            d["rows_added"] = self.count_rows(server) - before if count_rows else None
            batches = self.commit_batches(server) if batches0 else None
            d["batches"] = tuple(x - y for x, y in zip(batches, batches0)) if batches else None
            d["changed"] = self.changed_since(self.target(server), etags) if changed else None
            return d
        try:
            if warm_up:  # before the CPU meter of attempt starts
                self.warm_up_cell(server, path, conns, auth, ids, name, method, body)
            d = self.attempt(f"{name} at {conns}", cell, server)
        except (CellError, sqlite3.Error, subprocess.CalledProcessError) as e:
            self.fail_rows(section, [name], conns, e)
            return None
        good = d["statuses"].get(want, 0)
        d["unexpected"] = d["responses"] - good + d["socket_errors"]
        self.results[(kind, conns)] = d
        added = d["rows_added"]
        notes = [self.cpu_note(d)]
        others = {s: n for s, n in d["statuses"].items() if s != want}
        if others:
            notes.append("other statuses " + ", ".join(f"{s}×{n}" for s, n in
                                                        sorted(others.items())))
        if d["socket_errors"]:
            notes.append(f"socket errors {d['socket_errors']} (timeouts {int(d['timeouts'])})")
        if creates:
            # a request in flight when wrk stops may commit without its 201 being read
            d["rows_match"] = good <= added <= good + conns
            notes.append(f"201s {good:,}" + ("" if d["rows_match"] else " ≠ rows added"))
            notes.append(f"'database is locked' {d['locked']}")
            # the server's CPU seconds in the cell over the creates it answered
            d["cpu_per_create_us"] = (d["cpu"]["server"] / 100 * d["cpu"]["seconds"] * 1e6
                                      / good if good else float("nan"))
            notes.append(f"httpd CPU per create {d['cpu_per_create_us']:.0f} µs")
            if d["batches"] and d["batches"][1]:
                rows, commits = d["batches"]
                notes.append(f"group commits {commits:,}, mean {rows / commits:.1f} rows")
        elif count_rows and added:
            notes.append(f"STORED {added} rows")
        if changed:
            notes.append(f"partners changed {d['changed']:,}")
        if d["failed"] and not creates:
            notes.append(f"insert failures logged {d['failed']}")
        self.rows.append(Row(section, name, conns, rate=d["rate"], p50=d["p50_us"] / 1000,
                             p99=d["p99_us"] / 1000, p999=d["p999_us"] / 1000,
                             unexpected=d["unexpected"], rows_added=added,
                             ratio=ratio(d) if ratio else None, notes="; ".join(notes)))
        return d

    def p99_ratio_text(self, d, conns):
        """"; p99 ÷ pgbench's p99 R (≤ goal)" for a PostgreSQL create cell."""
        base = self.results.get(("pgbench", conns))
        if not base or not base.get("p99") or conns not in (16, 64):
            return ""
        return (f"; p99 ÷ pgbench p99 {d['p99_us'] / 1000 / base['p99']:.2f} "
                f"(≤ {CREATE_GOALS['pgsql-p99-ratio']})")

    def ratio_text(self, d, base_key, goal):
        base = self.results.get(base_key)
        if not base or not base.get("rate"):
            return "n/a"
        return f"{ratio_fmt(d['rate'] / base['rate'])}{goal}"

    # Each ratio's two cells run close together (the VM's speed drifts by ±20 %
    # within minutes): per connection count the minimal handler, then the
    # rejections; the raw SQLite loop right before the SQLite creates; pgbench
    # right before the PostgreSQL create at the same connection count. A
    # warm-up (warm_up_cell) adds its 2 s between the two. The ratios issue 20
    # judges run A-B-A (baseline_again).

    def baseline_again(self, d, base_key, rerun, ratio):
        """The second A of a judged ratio's A-B-A. Its baseline (A) ran right
        before the module's cell d (B, the last row); rerun(kind) runs it once
        more right after, as its own row, into results[(kind, conns)]. On this
        host a baseline moved by up to 2.6 times between two runs of the bench
        (bench/NOTES.md, "Issue 20's goals judged: the full run of 2026-12-08
        01:18 UTC"), so one run of it cannot judge a ratio: results[base_key]
        becomes the mean of the two runs' rate and p99, with their spread (the
        difference over the mean) as the noise, and the module's row gets its
        ratio(d) again over that mean, the noise beside it. When one of the two
        runs failed the other stands alone, and the row says so."""
        row = self.rows[-1] if d else None
        kind, conns = base_key
        first = self.results.get(base_key)
        rerun(f"{kind}-again")
        second = self.results.get((f"{kind}-again", conns))
        runs = [r for r in (first, second) if r and r.get("rate")]
        if len(runs) < 2:
            if runs:
                self.results[base_key] = runs[0]
            if row and runs:
                row.ratio = (f"{ratio(d)}; baseline run once (its "
                             f"{'second' if first in runs else 'first'} run failed)")
            return
        mean = (first["rate"] + second["rate"]) / 2
        noise = abs(first["rate"] - second["rate"]) / mean
        self.results[base_key] = dict(first, rate=mean, p99=(first["p99"] + second["p99"]) / 2,
                                      noise=noise, runs=(first, second))
        if row:
            row.ratio = f"{ratio(d)}; baseline mean of 2, noise ±{noise * 100:.1f} %"

    def create_row(self, section, name, kind, server, conns, ratio=None):
        # warmed on PostgreSQL, whose pool opens a backend per new connection
        # (pgbench connects before its clock starts); a SQLite connection is a
        # file opened, and a warm-up at twice the connections would make the
        # shipped configuration's MPM start children the cell itself does not
        return self.http_row(section, name, kind, server, COLLECTION, conns, 201, "POST",
                             "create.json", self.bearer(), count_rows=True, ratio=ratio,
                             warm_up=server.backend.startswith("pgsql"))

    # The main SQLite and PostgreSQL servers run without audit events: their
    # rows compare the module's statements with the same statements run raw
    # (the PostgreSQL trace checks they are exactly those), and the raw
    # baselines write no event. Auditing's cost is its own On ÷ Off row
    # (FEATURES), and the shipped rows run it as installed (On).
    NO_AUDIT = "RemoteAssistAuditEvents Off"

    def http_sqlite(self):
        server = self.start_httpd("sqlite", extra_config=self.NO_AUDIT)
        try:
            self.sanity(server)
            self.operations(server)
            self.skiptoken_cost()
            rejections = [
                ("401, malformed token (no signature check, no DB)", "r401", "POST",
                 "create.json", "Bearer not-a-jwt", 401, " (≥ 0.7)"),
                ("405, DELETE on the collection (no token check, no DB)", "r405", "DELETE",
                 None, self.bearer(), 405, " (≥ 0.7)"),
                ("400, malformed JSON, valid token (1 verify, no DB; httpd closes the "
                 "connection after a 400)", "r400", "POST",
                 "malformed.json", self.bearer(), 400, ""),
            ]
            for conns in self.s.conns:
                self.http_row("1", ROW_STATIC, "static", server, "/partner.json", conns, 200)
                self.http_row("1", ROW_MINIMAL, "minimal", server, "/bench-minimal", conns, 201,
                              "POST", "create.json")
                for label, kind, method, body, auth, want, goal in rejections:
                    self.http_row(
                        "4", label, kind, server, COLLECTION, conns, want, method, body, auth,
                        count_rows=True,
                        ratio=lambda d, c=conns, g=goal: "÷ minimal "
                        + self.ratio_text(d, ("minimal", c), g))
            if self.written.get("sqlite"):
                self.raw_sqlite(self.scripts("sqlite")["insert"])
            else:
                self.fail_rows("1", [f"{ROW_RAW}FULL", f"{ROW_RAW}NORMAL"], 1,
                               "no row the module stored to repeat")
            # a diagnostic: the goal judges the shipped configuration's rows
            for conns in self.s.conns:
                self.create_row(
                    "2", ROW_CREATE_SQLITE, "create-sqlite", server, conns,
                    ratio=lambda d: "÷ raw FULL " + self.ratio_text(d, ("raw-FULL", 1), ""))
            self.batch(server)
            self.memory(server)
        finally:
            self.stop_httpd(server)

    def http_sqlite_one_child(self):
        """Diagnostic, not a goal: the same creates with every thread in one child,
        so no second process contends for SQLite's write lock."""
        server = self.start_httpd("sqlite-1child", mpm=MPM_ONE_CHILD, dbd_pool=DBD_POOL_ONE_CHILD,
                                  children=1)
        try:
            for conns in self.s.conns:
                self.create_row(
                    "2", ROW_CREATE_SQLITE_1, "create-sqlite-1", server, conns,
                    ratio=lambda d, c=conns: "÷ 2 children " + self.ratio_text(
                        d, ("create-sqlite", c), ""))
        finally:
            self.stop_httpd(server)

    def http_pgsql(self):
        server = self.start_httpd("pgsql", extra_config=self.NO_AUDIT)
        try:
            self.sanity(server)
            self.operations(server)
            script = self.scripts("pgsql")["insert"]
            for conns in self.s.conns:
                if self.written.get("pgsql"):
                    self.pgbench(ROW_PGBENCH, "pgbench", conns, script)
                else:
                    self.fail_rows("1", [ROW_PGBENCH], conns, "no row the module stored to repeat")
                goal = f" (≥ {CREATE_GOALS['pgsql-ratio']})" if conns in (16, 64) else ""

                def ratio(d, c=conns, g=goal):
                    return ("÷ pgbench " + self.ratio_text(d, ("pgbench", c), g)
                            + self.p99_ratio_text(d, c))
                d = self.create_row("3", ROW_CREATE_PGSQL, "create-pgsql", server, conns,
                                    ratio=ratio)
                if conns in judged_conns(self.s.conns, (16, 64)) and self.written.get("pgsql"):
                    self.baseline_again(
                        d, ("pgbench", conns),
                        lambda kind, c=conns: self.pgbench(ROW_PGBENCH + AGAIN, kind, c, script),
                        ratio)
            self.memory(server)
        finally:
            self.stop_httpd(server)

    # ---- section 2: the shipped configuration

    # ---- generated partners: the shipped configuration's database, the large
    # data set and the mixed load's tenants. Every row copies a partner the
    # module itself stored from the seed body (its columns, values and, on
    # SQLite, its file's pragmas), with its own tenant, id and ETag.

    def module_made_sqlite(self):
        """A SQLite file the module created, holding the one partner it stored."""
        if not getattr(self, "_module_made", None):
            server = self.start_httpd("sqlite-template")
            try:
                self.sanity(server)
            finally:
                self.stop_httpd(server)
            self._module_made = server.db[1]
        return self._module_made

    @staticmethod
    def generated_columns(dialect, columns, count, tenants, measured):
        """SELECT expressions, one per column, for row i (0 … count-1) of a
        generated set: the template's values but for tenant_id, id and etag.
        Row i belongs to tenant i % tenants with id OPS_FIRST + i / tenants,
        so each tenant's rows are spread over the whole table as if they had
        arrived over time; with measured > 0, every (count / measured)-th row
        instead belongs to OPS_TENANT with ids OPS_FIRST, … (the tenant the
        reads run on, the same in sets of any size)."""
        every = count // measured if measured else 0
        ops = f"{every} > 0 AND i % {every} = 0 AND i / {every} < {measured}" if every else "0 = 1"
        if dialect == "sqlite":
            tenant = f"printf('%08d-0000-4000-8000-000000000000', i % {tenants})"
            etag = "printf('%024x', i)"
            text = "CAST({} AS TEXT)"
        else:
            tenant = f"lpad((i % {tenants})::text, 8, '0') || '-0000-4000-8000-000000000000'"
            etag = "lpad(to_hex(i), 24, '0')"
            text = "({})::text"
        own = {"tenant_id": f"CASE WHEN {ops} THEN '{OPS_TENANT}' ELSE {tenant} END",
               "id": f"CASE WHEN {ops} THEN {text.format(f'{OPS_FIRST} + i / {every or 1}')} "
                     f"ELSE {text.format(f'{OPS_FIRST} + i / {tenants}')} END",
               "etag": etag}
        return [own.get(c, f"t.{c}") for c in columns]

    def generated_sqlite(self, name, count, tenants, measured=0):
        """A SQLite file of count generated partners (generated_columns), made by
        one INSERT … SELECT over a recursive CTE in a copy of a file the module
        made, and cached under build/bench/cache/ by its shape and the schema's
        digest: made once, copied by each server that uses it."""
        with open(SCHEMA["sqlite"], "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()[:12]
        path = os.path.join(BUILD, "cache", f"{name}-{count}-{tenants}-{measured}-{digest}.db")
        what = (f"{name}: {count:,} partners in {tenants:,} tenants"
                + (f" and {measured:,} of tenant {OPS_TENANT}" if measured else ""))
        if os.path.exists(path):
            COMMANDS.append((f"{what}, cached", os.path.relpath(path, ROOT)))
            return path
        os.makedirs(os.path.dirname(path), exist_ok=True)
        started = time.monotonic()
        # through SQLite, not a file copy: the partner may still be in the WAL
        with contextlib.closing(sqlite3.connect(self.module_made_sqlite())) as made, \
                contextlib.closing(sqlite3.connect(path + ".tmp")) as db:
            made.backup(db)
        with contextlib.closing(sqlite3.connect(path + ".tmp")) as db:
            columns = [r[1] for r in db.execute("PRAGMA table_info(remote_assistance_partners)")]
            # a throw-away file until it is renamed: no journal, no fsync; the
            # index of (tenant, id) gets a cache its size for the scattered inserts
            db.execute("PRAGMA journal_mode=OFF")
            db.execute("PRAGMA synchronous=OFF")
            db.execute("PRAGMA cache_size=-2000000")
            db.execute("CREATE TEMP TABLE template AS SELECT * FROM remote_assistance_partners "
                       "LIMIT 1")
            db.execute("DELETE FROM remote_assistance_partners")
            db.execute(f"INSERT INTO remote_assistance_partners ({', '.join(columns)}) "
                       f"WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n "
                       f"WHERE i < {count - 1}) SELECT "
                       + ", ".join(self.generated_columns("sqlite", columns, count, tenants,
                                                          measured))
                       + " FROM n, temp.template AS t")
            db.commit()
            db.execute("PRAGMA journal_mode=WAL")  # as the module keeps it
            made = db.execute("SELECT count(*) FROM remote_assistance_partners").fetchone()[0]
        if made != count:
            raise CellError(f"{what}: {made:,} partners made")
        os.replace(path + ".tmp", path)
        COMMANDS.append((f"{what}: one INSERT … SELECT (recursive CTE) with sqlite3 into a "
                         f"copy of a file the module made ({time.monotonic() - started:.0f} s)",
                         os.path.relpath(path, ROOT)))
        return path

    def generated_pgsql(self, database, count, tenants, measured=0):
        """count generated partners (generated_columns) in database, which holds
        the one partner a server on it stored through the module: one INSERT …
        SELECT over generate_series that takes that partner's place. Made in
        each run's fresh cluster (as fast as restoring a dump would be)."""
        started = time.monotonic()
        columns = self.pg.psql("SELECT string_agg(column_name, ',' ORDER BY ordinal_position) "
                               "FROM information_schema.columns WHERE table_name = "
                               "'remote_assistance_partners'", database).split(",")
        self.pg.psql(f"WITH t AS (DELETE FROM remote_assistance_partners RETURNING *) "
                     f"INSERT INTO remote_assistance_partners ({', '.join(columns)}) SELECT "
                     + ", ".join(self.generated_columns("pgsql", columns, count, tenants,
                                                        measured))
                     + f" FROM t, generate_series(0, {count - 1}) AS g(i)", database)
        made = int(self.pg.psql("SELECT count(*) FROM remote_assistance_partners", database))
        if made != count:
            raise CellError(f"{database}: {made:,} partners made, not {count:,}")
        self.pg.psql("VACUUM ANALYZE remote_assistance_partners", database)
        COMMANDS.append((f"PostgreSQL database {database}: {count:,} partners in {tenants:,} "
                         f"tenants" + (f" and {measured:,} of tenant {OPS_TENANT}" if measured
                                       else "")
                         + f", one INSERT … SELECT generate_series from the partner the module "
                           f"stored, then VACUUM ANALYZE ({time.monotonic() - started:.0f} s)",
                         "psql"))

    def shipped_database(self):
        """The shipped configuration's database: shipped_rows partners spread over
        100 tenants (none the create tenant's)."""
        return self.generated_sqlite("shipped", self.s.shipped_rows, 100)

    def http_shipped(self):
        """Creates as a site serves them once the package is installed: Debian's
        mpm_event (up to 6 children of 25 threads), mod_dbd's default pool,
        Debian's keep-alive, on a database already holding shipped_rows
        partners. Each module cell is bracketed by two runs of the raw loop on
        fresh copies of the same database (A-B-A): the ratio is over their
        mean, the noise their spread."""
        cache = self.shipped_database()
        server = self.start_httpd("sqlite-shipped", mpm=debian_mpm_event(),
                                  dbd_pool=MOD_DBD_DEFAULT_POOL, extra_config=DEBIAN_KEEPALIVE,
                                  sqlite_file=cache)
        try:
            self.sanity(server)
            if not self.written.get("sqlite"):  # the run's seeding did not run
                self.written["sqlite"] = self.db_rows(
                    server.db[1], f"SELECT * FROM remote_assistance_partners WHERE "
                                  f"tenant_id = '{CREATE_TENANT}' LIMIT 1")[0]
            script = self.scripts("sqlite")["insert"]
            copies = iter(range(1, 1000))

            def fresh():
                copy = os.path.join(WORK, f"raw-shipped-{next(copies)}.db")
                shutil.copy(cache, copy)
                return copy
            for conns in judged_conns(self.s.conns, (16, 64)):
                raw = []
                for when in ("before", "after"):
                    if when == "after":
                        d = self.create_row("2", ROW_CREATE_SHIPPED, "create-shipped", server,
                                            conns)
                        row = self.rows[-1] if d else None
                        if row:  # the MPM adds children as the connections grow
                            row.notes += f"; {len(server.child_pids())} children after the cell"
                    name = f"{ROW_RAW_SHIPPED} ({when} the cell at {conns})"
                    self.sqlite_baseline(name, f"raw-shipped-{when}", conns, script, fresh,
                                         "one connection (SQLite has one writer)")
                    raw.append(self.results.get((f"raw-shipped-{when}", conns), {}).get("rate"))
                if d and all(raw):
                    base = sum(raw) / 2
                    noise = abs(raw[0] - raw[1]) / base
                    goal = CREATE_GOALS["sqlite-ratio"]
                    row.ratio = (f"÷ raw FULL (mean of 2) {ratio_fmt(d['rate'] / base)} "
                                 f"(≥ {goal}); raw noise ±{noise * 100:.1f} %")
                    self.results[("shipped", conns)] = {"ratio": d["rate"] / base,
                                                        "noise": noise, "p99": d["p99_us"] / 1000}
        finally:
            self.stop_httpd(server)

    # ---- section 10: reads on a large data set, a mixed multi-tenant load,
    # $batch

    def warm_up_seconds(self):
        """The length of a warm-up (warm_up_cell, and the mixed load's own): 2 s
        with the default 10 s cells, none with the smoke run's 1 s ones (whose
        numbers are not judged)."""
        return int(min(2, self.s.seconds / 5))

    def warm_up_cell(self, server, path, conns, auth, ids, what, method="GET", body=None):
        """A cell's own requests, unmeasured, right before it: a child's pool
        opens a missing connection under its lock, one at a time (on
        PostgreSQL a backend and the module's prepared statements, 20-30 ms
        each on this machine), so a cell's first requests waited 42-215 ms,
        and wrk's coordinated-omission correction turns each such request
        into one extra sample per mean request interval below it: a dozen of
        them made a 16-connection cell's p99 88 ms where httpd's own was
        3.5 ms (bench/NOTES.md, "The PostgreSQL reads' tail is the pool's
        first requests"). On SQLite, where opening a connection costs little,
        it still reads the pages once and fills each child's token cache, so
        both databases' cells start alike. Twice the cell's connections: each
        wrk run's connections fall on the children anew, so a child must
        already hold more than its share. The rows measure the steady state;
        docs/deploy.md says what a cold pool costs."""
        if self.warm_up_seconds():
            self.wrk(server, path, 2 * conns, method, body, auth,
                     seconds=self.warm_up_seconds(), ids=ids, what=f"{what} warm-up")

    def p99_aba(self, label, cells):
        """cells: (side, function -> wrk dict) run in that order, the side "A"
        twice around "B": B's p99 ÷ the mean of A's, and A's spread (their
        difference over their mean) as the noise. With BENCH_FEATURE_REPEATS=1
        (the smoke run) the last A is left out, as a feature's second On run."""
        runs = {"A": [], "B": []}
        for side, cell in cells[:None if self.s.feature_repeats > 1 else 2]:
            runs[side].append(cell())
        alone = [d["p99_us"] for d in runs["A"]]
        mean = sum(alone) / len(alone)
        during = runs["B"][0]
        return {"ratio": during["p99_us"] / mean if mean else float("nan"),
                "noise": (max(alone) - min(alone)) / mean if mean else 0.0,
                "alone": runs["A"], "during": during}

    def large_data(self):
        """Get by id and a list page of the measured tenant (OPS_TENANT, ops_rows
        partners) on a database of large_rows partners in 10,000 tenants, against
        the same on one of 10,000 partners: two servers alike but for their
        database, run small, large, small (A-B-A) for each kind of read."""
        conns = self.s.read_conns
        sizes = {"small": LARGE_BASE_ROWS, "large": self.s.large_rows}
        reads = [op for op in OPERATIONS if op.kind in ("get", "list")]
        for backend, label in (("sqlite", "SQLite"), ("pgsql", "PostgreSQL")):
            names = {op.kind: f"{ROW_LARGE} {op.label.split(' (')[0]}, {label}, "
                              f"{self.s.large_rows:,} partners ÷ {LARGE_BASE_ROWS:,}"
                     for op in reads}
            servers = {}
            try:
                if backend == "pgsql" and not self.pg:
                    raise CellError("no PostgreSQL cluster")
                measured = min(self.s.ops_rows, LARGE_BASE_ROWS)
                for size, count in sizes.items():
                    if size == "large" and count == LARGE_BASE_ROWS:
                        servers["large"] = servers["small"]  # the smoke run's sizes
                    elif backend == "sqlite":
                        servers[size] = self.start_httpd(
                            f"sqlite-large-{size}", extra_config=self.NO_AUDIT,
                            sqlite_file=self.generated_sqlite("large", count, LARGE_TENANTS,
                                                              measured))
                    else:
                        database = f"remoteassist_{size}"
                        self.pg.psql(f"CREATE DATABASE {database}")
                        with open(SCHEMA["pgsql"]) as f:
                            self.pg.psql(f.read(), database)
                        servers[size] = self.start_httpd(f"pgsql-large-{size}",
                                                         extra_config=self.NO_AUDIT,
                                                         pg_database=database)
                        self.sanity(servers[size])  # the partner the rows copy
                        self.generated_pgsql(database, count, LARGE_TENANTS, measured)
                for op in reads:
                    ids = (OPS_FIRST, measured) if op.by_id else None
                    for server in set(servers.values()):
                        # the pool's connections opened, the pages read once
                        self.warm_up_cell(server, op.path(), conns, self.ops_bearer(), ids,
                                          f"large {op.kind}")

                    def cell(size, when="", op=op, ids=ids):
                        return lambda: self.attempt(
                            f"{names[op.kind]} ({size}{when})", lambda: self.wrk(
                                servers[size], op.path(), conns, auth=self.ops_bearer(),
                                what=f"large {op.kind} {size}{when}", ids=ids), servers[size])
                    d = self.p99_aba(names[op.kind], [("A", cell("small")), ("B", cell("large")),
                                                      ("A", cell("small", " after"))])
                    self.results[("large", backend, op.kind)] = d
                    big = d["during"]
                    unexpected = sum(r["responses"] - r["statuses"].get(200, 0)
                                     + r["socket_errors"] for r in d["alone"] + [big])
                    self.rows.append(Row(
                        "10", names[op.kind], conns, rate=big["rate"], p50=big["p50_us"] / 1000,
                        p99=big["p99_us"] / 1000, p999=big["p999_us"] / 1000,
                        unexpected=unexpected, rows_added=0,
                        ratio=f"p99 ÷ {LARGE_BASE_ROWS:,} rows' {d['ratio']:.2f} "
                              f"(≤ {LARGE_P99_GOAL}); noise ±{d['noise'] * 100:.0f} %",
                        notes=f"{LARGE_BASE_ROWS:,} rows before and after: "
                              + ", ".join(f"{r['rate']:,.0f} req/s p99 {r['p99_us'] / 1000:.2f} ms"
                                          for r in d["alone"])
                              + f"; tenant {OPS_TENANT} holds {measured:,} of them; "
                              + self.cpu_note(big)))
            except (CellError, OSError, sqlite3.Error, subprocess.CalledProcessError) as e:
                self.fail_rows("10", [n for n in names.values()
                                      if not any(r.name == n for r in self.rows)], conns, e)
            finally:
                for server in set(servers.values()):
                    self.stop_httpd(server)

    def mixed_load(self):
        """Issue 20's mixed multi-tenant row, on the shipped configuration: gets
        of random tenants (1 connection) alone, during the mixed load (at 16 and
        64 connections, MIX_SHARES of MIX_TENANTS tenants, each with a token of
        its own), and alone again (A-B-A): the gets' p99 during ÷ alone."""
        cs = [c for c in self.s.conns if c in (16, 64)] or self.s.conns
        names = {c: f"{ROW_MIX} ({MIX_SHARES_TEXT}), shipped config: get p99 during ÷ alone"
                 for c in cs}
        ids = (OPS_FIRST, MIX_PARTNERS)
        server = None
        try:
            db = self.generated_sqlite("mix", MIX_TENANTS * MIX_PARTNERS, MIX_TENANTS)
            self.mix_tokens = os.path.join(WORK, "keys", "mix.tokens")
            with open(self.mix_tokens, "w") as f:
                for t in range(MIX_TENANTS):  # the tenants of generated_columns
                    f.write(mint_token.mint(None, alg="RS256", key=self.rs256_key,
                                            lifetime=6 * 3600,
                                            tid=f"{t:08d}-0000-4000-8000-000000000000",
                                            extra={"appid": BENCH_APP}) + "\n")
            COMMANDS.append((f"the mixed load's tokens: one per tenant, {MIX_TENANTS:,}",
                             "tools/mint_token.py (as the other tokens)"))
            server = self.start_httpd("sqlite-mix", mpm=debian_mpm_event(),
                                      dbd_pool=MOD_DBD_DEFAULT_POOL,
                                      extra_config=DEBIAN_KEEPALIVE, sqlite_file=db)
            self.sanity(server)
            for c in cs:
                def probe(what):
                    return lambda: self.attempt(f"{names[c]} ({what})", lambda: self.wrk(
                        server, COLLECTION, 1, what=f"mix gets {what}", ids=ids,
                        mix=MIX_GETS_ONLY), server)
                load = {}

                def during():
                    def mixed():
                        try:
                            load["d"] = self.wrk(server, COLLECTION, c,
                                                 seconds=self.s.seconds + 2, what="mix load",
                                                 ids=ids, mix=MIX_SHARES)
                        except CellError as e:
                            load["error"] = e
                    thread = threading.Thread(target=mixed)
                    thread.start()
                    time.sleep(1)
                    d = probe("during")()
                    thread.join()
                    if "error" in load:
                        raise load["error"]
                    return d
                # every child has verified every tenant's token before the first probe
                if self.warm_up_seconds():
                    self.wrk(server, COLLECTION, c, seconds=self.warm_up_seconds(),
                             what="mix warm-up", ids=ids, mix=MIX_GETS_ONLY)
                before = self.count_rows(server)
                d = self.p99_aba(names[c], [("A", probe("alone")), ("B", during),
                                            ("A", probe("alone after"))])
                added = self.count_rows(server) - before
                self.results[("mix", c)] = d
                m, big = load["d"], d["during"]
                statuses = m["statuses"]
                unexpected = (sum(n for st, n in statuses.items() if st not in (200, 201, 204))
                              + m["socket_errors"]
                              + sum(r["responses"] - r["statuses"].get(200, 0)
                                    + r["socket_errors"] for r in d["alone"] + [big]))
                self.rows.append(Row(
                    "10", names[c], c, rate=m["rate"], p50=big["p50_us"] / 1000,
                    p99=big["p99_us"] / 1000, p999=big["p999_us"] / 1000,
                    unexpected=unexpected, rows_added=added,
                    ratio=f"{d['ratio']:.2f} (≤ {MIX_P99_GOAL}); noise ±{d['noise'] * 100:.0f} %",
                    notes=f"ops/s: the mixed load's ({', '.join(f'{st}×{n:,}' for st, n in sorted(statuses.items()))}, "
                          f"its p99 {m['p99_us'] / 1000:.1f} ms); latencies: the gets during it "
                          f"(1 conn); the gets alone: "
                          + ", ".join(f"p99 {r['p99_us'] / 1000:.2f} ms" for r in d["alone"])
                          + f"; {len(server.child_pids())} children after; {self.cpu_note(big)}"))
        except (CellError, OSError, sqlite3.Error, subprocess.CalledProcessError) as e:
            self.fail_rows("10", [n for n in names.values()
                                  if not any(r.name == n for r in self.rows)], "16/64", e)
        finally:
            if server:
                self.stop_httpd(server)

    def batch(self, server=None):
        """Issue 19's row: 20 creates in one JSON $batch against the same 20
        creates sent one by one, on one keep-alive connection, in alternating
        rounds for the cell's seconds: partners/s of the median round each way,
        and the noise: the larger interquartile range of the two sides' rounds
        over their median. On the main SQLite server when its step runs (the
        "batch" step then has nothing left to do), else on one alike."""
        import http.client
        import statistics
        if ("batch", 1) in self.results:
            return
        name = f"{ROW_BATCH}, same connection, SQLite, 2 children"
        own = server is None
        if own:
            server = self.start_httpd("sqlite-batch", extra_config=self.NO_AUDIT)
        try:
            self.sanity(server)
            with open(self.bodies["create.json"]) as f:
                create = json.load(f)
            headers = {"Content-Type": "application/json", "Authorization": self.bearer()}
            batch = json.dumps({"requests": [
                {"id": str(i), "method": "POST", "url": httpd_harness.COLLECTION,
                 "headers": {"Content-Type": "application/json"}, "body": create}
                for i in range(BATCH_SIZE)]})
            with open(self.bodies["create.json"]) as f:
                one = f.read()

            def separate(conn):
                for _ in range(BATCH_SIZE):
                    conn.request("POST", COLLECTION, one, headers)
                    r = conn.getresponse()
                    r.read()
                    if r.status != 201:
                        raise CellError(f"a create answered {r.status}")

            def batched(conn):
                conn.request("POST", "/v1.0/$batch", batch, headers)
                r = conn.getresponse()
                answer = r.read()
                statuses = [x.get("status") for x in json.loads(answer).get("responses", [])] \
                    if r.status == 200 else []
                if statuses != [201] * BATCH_SIZE:
                    raise CellError(f"the $batch answered {r.status}: {answer[:200]!r}")

            def cell():
                times = {"separate": [], "batch": []}
                conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
                try:
                    batched(conn)  # warm: the token cache, the statements
                    separate(conn)
                    end = time.monotonic() + self.s.seconds
                    while time.monotonic() < end or len(times["batch"]) < 3:
                        for side, run_side in (("separate", separate), ("batch", batched)):
                            t0 = time.perf_counter()
                            run_side(conn)
                            times[side].append(time.perf_counter() - t0)
                finally:
                    conn.close()
                return {"times": times}
            before = self.count_rows(server)
            d = self.attempt(name, cell, server)
            added = self.count_rows(server) - before
        except (CellError, OSError, sqlite3.Error, http.client.HTTPException, ValueError) as e:
            self.fail_rows("10", [name], 1, e)
            return
        finally:
            if own:
                self.stop_httpd(server)
        times = d["times"]
        rate = {side: BATCH_SIZE / statistics.median(t) for side, t in times.items()}
        noise = max((q[2] - q[0]) / statistics.median(t) for t in times.values()
                    for q in [statistics.quantiles(t, n=4)])
        ratio = rate["batch"] / rate["separate"]
        self.results[("batch", 1)] = {"ratio": ratio, "noise": noise}
        rounds = len(times["batch"])
        expected = 2 * BATCH_SIZE * (rounds + 1)
        self.rows.append(Row(
            "10", name, 1, rate=rate["batch"], rows_added=added, unexpected=0,
            ratio=f"{ratio_fmt(ratio)} (≥ {BATCH_GOAL}); noise ±{noise * 100:.0f} %",
            notes=f"partners/s of the median round: $batch {rate['batch']:,.0f}, separate "
                  f"{rate['separate']:,.0f}; {rounds} rounds each way"
                  + ("" if added == expected else f"; STORED {added:,}, not {expected:,}")
                  + f"; {self.cpu_note(d)}"))

    # ---- section 9: what each feature on the request path costs

    def feature_cells(self):
        """kind -> (path, method, body, auth, status wanted, ids) of a feature cell."""
        get = next(op for op in OPERATIONS if op.kind == "get")
        listing = next(op for op in OPERATIONS if op.kind == "list")
        patch = next(op for op in OPERATIONS if op.kind == "patch")
        return {"create": (COLLECTION, "POST", "create.json", self.bearer(), 201, None),
                "get": (get.path(), "GET", None, self.ops_bearer(), 200,
                        (OPS_FIRST, self.s.ops_rows)),
                "list": (listing.path(), "GET", None, self.ops_bearer(), 200, None),
                "patch": (patch.path(), "PATCH", patch.body, self.ops_bearer(), 200,
                          (OPS_FIRST, self.s.ops_rows))}

    def features_cost(self):
        """Each feature of FEATURES On against Off: two servers alike but for its
        lines, each on a SQLite file of its own seeded with the same tenant, run
        in turn On, Off, On, ... (A-B-A) so that the machine's drift falls on
        both; the ratio is the mean On rate over the mean Off rate, beside the
        noise: the largest spread of one setting's own runs, as a share of
        their mean."""
        conns = 16 if 16 in self.s.conns else self.s.conns[-1]
        cells = self.feature_cells()
        for feature in FEATURES:
            names = [feature.row(kind) for kind in feature.kinds]
            servers = {}
            try:
                for side in ("On", "Off"):
                    servers[side] = self.start_httpd(
                        f"sqlite-{feature.key}-{side.lower()}",
                        extra_config=feature.server[side],
                        location_config=feature.location[side])
                for server in servers.values():
                    self.sanity(server)
                    self.seed(server)
                for kind, name in zip(feature.kinds, names):
                    self.feature_row(feature, name, kind, servers, conns, *cells[kind])
            except (CellError, sqlite3.Error, subprocess.CalledProcessError) as e:
                self.fail_rows("9", [n for n in names if not any(r.name == n for r in self.rows)],
                               conns, e)
            finally:
                for server in servers.values():
                    self.stop_httpd(server)

    def feature_row(self, feature, name, kind, servers, conns, path, method, body, auth, want,
                    ids):
        runs = {"On": [], "Off": []}
        before = {side: self.settled_count(s) for side, s in servers.items()}
        # On, Off, On, ...: repeats On runs, one Off fewer (one Off at least)
        for i in range(max(2, 2 * self.s.feature_repeats - 1)):
            side = "On" if i % 2 == 0 else "Off"
            server = servers[side]
            runs[side].append(self.attempt(
                f"{name} ({side})", lambda s=server, w=f"{feature.key} {side} {kind}":
                self.wrk(s, path, conns, method, body, auth, what=w, ids=ids), server))
        added = sum(self.count_rows(s) - before[side] for side, s in servers.items())
        rates = {side: [d["rate"] for d in ds] for side, ds in runs.items()}
        mean = {side: sum(r) / len(r) for side, r in rates.items()}
        ratio = mean["On"] / mean["Off"] if mean["Off"] else float("nan")
        noise = max((max(r) - min(r)) / mean[side] if len(r) > 1 and mean[side] else 0.0
                    for side, r in rates.items())
        self.results[("feature", feature.key, kind)] = {"ratio": ratio, "noise": noise}
        middle = sorted(runs["On"], key=lambda d: d["rate"])[len(runs["On"]) // 2]
        unexpected = sum(d["responses"] - d["statuses"].get(want, 0) + d["socket_errors"]
                         for ds in runs.values() for d in ds)
        notes = [f"{side} runs " + ", ".join(f"{r:,.0f}" for r in rates[side]) + " req/s"
                 for side in ("On", "Off")]
        notes.append(self.cpu_note(middle))
        goal = FEATURE_GOALS.get(feature.key)
        self.rows.append(Row("9", name, conns, rate=mean["On"], p50=middle["p50_us"] / 1000,
                             p99=middle["p99_us"] / 1000, p999=middle["p999_us"] / 1000,
                             unexpected=unexpected, rows_added=added,
                             ratio=f"{ratio:.3f}" + (f" (≥ {goal})" if goal else "")
                             + f"; noise ±{noise * 100:.1f} %", notes="; ".join(notes)))

    def throttle_flood(self):
        """The quiet tenant's gets (1 connection) alone, then while the noisy
        tenant floods creates over its write limit (16 connections, most
        answered 429): the quiet tenant's p99 during ÷ alone, and that every
        one of its requests succeeded."""
        get = next(op for op in OPERATIONS if op.kind == "get")
        conns = 16 if 16 in self.s.conns else self.s.conns[-1]
        ids = (OPS_FIRST, self.s.ops_rows)
        server = self.start_httpd("sqlite-flood")
        try:
            self.sanity(server)
            self.seed(server)  # more creates than the limits allow: seeded first
            children = set(server.child_pids())
            server.extra_config += "\n" + FLOOD_LIMITS
            server.write_config()
            server.graceful()  # the buckets are kept, and cut down to the new limits
            for _ in range(200):
                now = set(server.child_pids(running=True))
                if now and not children & now:
                    break
                time.sleep(0.1)
            else:
                raise CellError("the graceful restart into the flood's limits did not finish")
            alone = self.attempt(f"{ROW_FLOOD} (alone)", lambda: self.wrk(
                server, get.path(), 1, auth=self.ops_bearer(), what="flood quiet alone",
                ids=ids), server)
            flood = {}

            def noisy():
                flood["d"] = self.wrk(server, COLLECTION, conns, "POST", "create.json",
                                      self.bearer(), seconds=self.s.seconds + 2,
                                      what="flood noisy creates")
            thread = threading.Thread(target=noisy)
            thread.start()
            time.sleep(1)
            during = self.wrk(server, get.path(), 1, auth=self.ops_bearer(),
                              what="flood quiet during", ids=ids)
            thread.join()
        except (CellError, sqlite3.Error, subprocess.CalledProcessError) as e:
            self.fail_rows("9", [ROW_FLOOD], 1, e)
            return
        finally:
            self.stop_httpd(server)
        ratio = during["p99_us"] / alone["p99_us"] if alone["p99_us"] else float("nan")
        self.results[("flood", "p99")] = {"ratio": ratio}
        unexpected = sum(d["responses"] - d["statuses"].get(200, 0) + d["socket_errors"]
                         for d in (alone, during))
        n = flood.get("d", {"statuses": {}})["statuses"]
        self.rows.append(Row("9", ROW_FLOOD, 1, rate=during["rate"], p50=during["p50_us"] / 1000,
                             p99=during["p99_us"] / 1000, p999=during["p999_us"] / 1000,
                             unexpected=unexpected,
                             ratio=f"{ratio:.2f} (≤ {FLOOD_P99_GOAL})",
                             notes=f"alone: {alone['rate']:,.0f} req/s, p99 "
                                   f"{alone['p99_us'] / 1000:.2f} ms; the flood at {conns} "
                                   f"connections: {n.get(201, 0):,} × 201, {n.get(429, 0):,} × 429 "
                                   f"(limit: 2,000 writes per 20 s per app)"))

    # ---- sections 7 and 8: get, list and PATCH against the raw loops of
    # their statements. Each module cell runs right after its baseline at the
    # same connection count (on SQLite the update's, a single writer, once).

    def scripts(self, dialect):
        return statements.scripts(self.sql, dialect, CREATE_TENANT, OPS_TENANT,
                                  (OPS_FIRST, self.s.ops_rows), self.written[dialect],
                                  json.loads(PATCH_BODY)["displayName"])

    def seed(self, server):
        """The tenant the reads and updates run on: ops_rows creates through the
        module, with ids OPS_FIRST, ... Keeps one of them (all alike but for id
        and ETag) as the values the baselines write."""
        import requests
        from concurrent.futures import ThreadPoolExecutor
        body = json.loads(devserver.SEED_BODY)
        headers = {"Authorization": self.ops_bearer(), "Content-Type": "application/json"}
        target = self.target(server)
        if self.db_rows(target, f"SELECT id FROM remote_assistance_partners WHERE tenant_id = "
                                f"'{OPS_TENANT}' LIMIT 1"):
            raise CellError("the tenant of the reads and updates is not empty")

        def create(chunk):
            with requests.Session() as session:
                for i in chunk:
                    r = session.post(server.url(), headers=headers, timeout=30,
                                     data=json.dumps(dict(body, id=str(OPS_FIRST + i))))
                    if r.status_code != 201:
                        raise CellError(f"seeding: create answered {r.status_code}: "
                                        f"{r.text[:200]}")
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(create, [range(k, self.s.ops_rows, 8) for k in range(8)]))
        columns = ("display_name, onboarding_url, onboarding_status, last_connection_date_time, "
                   "last_connection_ticks, onboarding_request_expiry_date_time, "
                   "onboarding_request_expiry_ticks, api_version")
        kinds = self.db_rows(target, f"SELECT {columns}, count(*) AS n FROM "
                                     f"remote_assistance_partners WHERE tenant_id = "
                                     f"'{OPS_TENANT}' GROUP BY {columns}")
        if len(kinds) != 1 or kinds[0]["n"] != self.s.ops_rows:
            raise CellError(f"seeding: {kinds}, not {self.s.ops_rows} alike partners")
        written = self.db_rows(target, f"SELECT * FROM remote_assistance_partners WHERE "
                                       f"tenant_id = '{OPS_TENANT}' LIMIT 1")[0]
        if any(v is None for v in written.values()):
            raise CellError(f"seeding: a stored partner has nulls the scripts cannot bind: "
                            f"{written}")
        self.written["sqlite" if target != "pgsql" else "pgsql"] = written
        COMMANDS.append((f"seeding ({server.backend}): {self.s.ops_rows:,} creates with ids "
                         f"{OPS_FIRST}…, 8 clients", f"POST {COLLECTION} (Bearer $OPS_TOKEN)"))

    def sanity_ops(self, server):
        """One request per operation: each answers what its row assumes."""
        import requests
        headers = {"Authorization": self.ops_bearer(), "Content-Type": "application/json"}
        one = f"{server.base}{COLLECTION}/{OPS_FIRST}"
        got = requests.get(one, headers=headers, timeout=30)
        page = requests.get(f"{server.base}{COLLECTION}?{LIST_QUERY}", headers=headers,
                            timeout=30)
        with open(self.bodies["patch.json"], "rb") as f:
            patched = requests.patch(one, headers=headers, data=f.read(), timeout=30)
        problems = []
        if got.status_code != 200 or got.json().get("id") != str(OPS_FIRST):
            problems.append(f"get answered {got.status_code}: {got.text[:200]}")
        if page.status_code != 200 or len(page.json().get("value", [])) != LIST_TOP \
                or "@odata.nextLink" not in page.json():
            problems.append(f"the list answered {page.status_code} without {LIST_TOP} partners "
                            f"and a nextLink: {page.text[:200]}")
        if patched.status_code != 200 or patched.json().get("displayName") != \
                json.loads(PATCH_BODY)["displayName"]:
            problems.append(f"PATCH answered {patched.status_code}: {patched.text[:200]}")
        if problems:
            raise CellError("; ".join(problems))

    def trace_module_sql(self, server):
        """With PostgreSQL logging every statement, one request of each operation:
        the module must run exactly the statements its baseline runs (the list
        with the parameters the baseline binds, the page's extra row included),
        and before the list the setting of its bound (RemoteAssistQueryTimeout),
        sent in the same pipeline, one round trip."""
        import requests
        get = ("remoteassist_get", statements.dollar(self.sql["statements"]["remoteassist_get"]))
        listing = self.sql["list"]["pgsql"]
        expected = {
            "get": [get],
            "list": [("<unnamed>", "SELECT set_config('statement_timeout', $1, true)"),
                     ("<unnamed>", statements.dollar(listing["text"]))],
            "patch": [get, ("remoteassist_replace",
                            statements.dollar(self.sql["statements"]["remoteassist_replace"]))]}
        headers = {"Authorization": self.ops_bearer(), "Content-Type": "application/json"}
        with open(self.bodies["patch.json"], "rb") as f:
            patch = f.read()
        types = {}
        self.pg.psql("ALTER SYSTEM SET log_statement = 'all'")
        self.pg.psql("SELECT pg_reload_conf()")
        try:
            # the postmaster signals its backends as it reloads, and each applies
            # the reload before its next command: a new session seeing the
            # setting means the module's connections will log too
            for _ in range(100):
                if self.pg.psql("SHOW log_statement") == "all":
                    break
                time.sleep(0.05)
            for op in OPERATIONS:
                offset = os.path.getsize(self.pg.log)
                r = requests.request(op.method, server.base + (
                    f"{op.path()}/{OPS_FIRST + 1}" if op.by_id else op.path()),
                    headers=headers, data=patch if op.body else None, timeout=30)
                with open(self.pg.log, errors="replace") as f:
                    f.seek(offset)
                    log = f.read()
                # apr_dbd_pgsql prepares with SQL: "PREPARE <label> (varchar, ...) AS <text>"
                ran = [(name, re.sub(r"^PREPARE \S+ \([^)]*\) AS ", "", text))
                       for name, text in re.findall(r"LOG:  execute (\S+): (.*)", log)]
                types.update(re.findall(r"PREPARE (\S+) (\([^)]*\))", log))
                params = re.findall(r"DETAIL:  parameters: (.*)", log)
                if r.status_code != 200 or ran != expected[op.kind]:
                    raise CellError(f"{op.kind}: the module ran {ran} (answering "
                                    f"{r.status_code}), not {expected[op.kind]}")
                if op.kind != "list":
                    continue
                bound = [re.sub(r"^'|'$", "", v) for v in
                         re.findall(r"\$\d+ = ('(?:[^']|'')*'|NULL)", "".join(params[-1:]))]
                if bound != [str(v) for v in listing["params"]]:
                    raise CellError(f"the module's list bound {bound}, the baseline "
                                    f"{listing['params']}")
        finally:
            self.pg.psql("ALTER SYSTEM RESET log_statement")
            self.pg.psql("SELECT pg_reload_conf()")
        self.info["pg_types"] = ", ".join(f"{k} {v}" for k, v in sorted(types.items()))
        COMMANDS.append(("the module's statements, traced (one request each)",
                         "ALTER SYSTEM SET log_statement = 'all'; compared with "
                         "build/bench/module_sql"))

    def operations(self, server):
        sqlite = server.backend == "sqlite"
        section, backend = ("7", "SQLite") if sqlite else ("8", "PostgreSQL")
        names = [n for op in OPERATIONS for n in
                 (op.raw_row() if sqlite else op.pgbench_row(), op.row(backend))]
        try:
            self.seed(server)
            self.sanity_ops(server)
            if sqlite:
                # the baseline's own copy of the same partners, as the module wrote them
                ops_db = self.new_sqlite_db(os.path.join(WORK, "raw-ops.db"))
                with contextlib.closing(sqlite3.connect(ops_db)) as db:
                    db.execute("ATTACH DATABASE ? AS module", (server.db[1],))
                    db.execute("INSERT INTO main.remote_assistance_partners SELECT * FROM "
                               "module.remote_assistance_partners WHERE tenant_id = ?",
                               (OPS_TENANT,))
                    db.commit()
            else:
                self.trace_module_sql(server)
                self.pg.psql("VACUUM ANALYZE remote_assistance_partners")
            scripts = self.scripts("sqlite" if sqlite else "pgsql")
        except (CellError, OSError, sqlite3.Error, subprocess.CalledProcessError,
                statements.StatementError, ValueError) as e:
            for name in names:
                self.fail_rows("1" if name.startswith(("raw", "pgbench")) else section, [name],
                               "-", e)
            return
        limit = min(LIST_TOP, page_size()) + 1
        for op in OPERATIONS:
            base = f"raw-{op.kind}" if sqlite else f"pgbench-{op.kind}"
            if sqlite and op.writes:
                self.sqlite_baseline(op.raw_row(), base, 1, scripts[op.kind], ops_db,
                                     "one connection (SQLite has one writer)", changed=True)
            for conns in self.s.ops_conns:
                if sqlite and not op.writes:
                    self.sqlite_baseline(op.raw_row(), base, conns, scripts[op.kind], ops_db,
                                         f"{conns} thread(s), a connection each", threads=conns,
                                         mode=op.mode,
                                         rows_per_query=limit if op.kind == "list" else None)
                elif not sqlite:
                    self.pgbench(op.pgbench_row(), base, conns, scripts[op.kind], op.mode,
                                 changed=op.writes)
                key = (base, 1 if sqlite and op.writes else conns)
                goal, goal_conns = OPERATION_GOALS[(op.kind, server.backend)]
                judged = conns in judged_conns(self.s.ops_conns, goal_conns)
                goal = goal if conns in goal_conns else None

                def ratio(d, k=key, g=goal):
                    return (("÷ raw " if sqlite else "÷ pgbench ")
                            + self.ratio_text(d, k, f" (≥ {g})" if g else ""))
                d = self.http_row(
                    section, op.row(backend), f"{op.kind}-{server.backend}", server, op.path(),
                    conns, 200, op.method, op.body, self.ops_bearer(), count_rows=True,
                    ids=(OPS_FIRST, self.s.ops_rows) if op.by_id else None, changed=op.writes,
                    warm_up=not op.writes, ratio=ratio)
                # the reads' judged ratios run A-B-A; a write's baseline changes
                # the partners its cell then changes again (and SQLite's runs
                # once, at one connection, for every cell), so PATCH keeps one
                if judged and not op.writes:
                    self.baseline_again(d, key, lambda kind, c=conns: (
                        self.sqlite_baseline(
                            op.raw_row() + AGAIN, kind, c, scripts[op.kind], ops_db,
                            f"{c} thread(s), a connection each", threads=c, mode=op.mode,
                            rows_per_query=limit if op.kind == "list" else None)
                        if sqlite else
                        self.pgbench(op.pgbench_row() + AGAIN, kind, c, scripts[op.kind],
                                     op.mode)), ratio)

    # ---- section 6: memory

    def memory(self, server):
        n = self.s.memory_requests
        conns = self.s.memory_conns
        threads = min(2, conns)
        name = f"RSS per child, {n:,} creates ({server.backend})"
        warm = max(1000, n // 20)
        try:
            pids = server.child_pids()
            self.wait_quiet()
            self.wrk(server, COLLECTION, conns, "POST", "create.json", self.bearer(),
                     seconds=self.s.memory_seconds, stop_after=math.ceil(warm / threads),
                     what=f"memory warm-up {server.backend}")
            before = {pid: rss_kb(pid) for pid in pids}
            rows0 = self.count_rows(server)
            meter = Meter(self.roots(), [server.proc.pid] + pids)
            d = self.wrk(server, COLLECTION, conns, "POST", "create.json", self.bearer(),
                         seconds=self.s.memory_seconds, stop_after=math.ceil(n / threads),
                         what=f"memory {server.backend}")
            d["cpu"] = meter.stop()
            after = {pid: rss_kb(pid) for pid in pids}
            added = self.count_rows(server) - rows0
            if sorted(server.child_pids()) != sorted(pids):
                raise CellError(f"the children changed during the run: {pids} -> "
                                f"{server.child_pids()}")
        except (CellError, OSError, sqlite3.Error) as e:
            self.fail_rows("6", [name], conns, e)
            return
        done = d["responses"]
        growth_kb = sum(after[p] - before[p] for p in pids)
        per_100k = growth_kb / 1024 * 100000 / done if done else float("nan")
        self.results[("memory", server.backend)] = {"per_100k": per_100k, "done": done}
        unexpected = done - d["statuses"].get(201, 0) + d["socket_errors"]
        children = "; ".join(f"child {p}: {before[p] / 1024:.1f} → {after[p] / 1024:.1f} MB"
                             for p in pids)
        notes = (f"{children}; {done:,} requests in {d['cpu']['seconds']:.0f} s after "
                 f"{warm:,} warm-up; {self.cpu_note(d)}")
        if done < n:
            notes += f"; STOPPED at the {self.s.memory_seconds:.0f} s limit"
        self.rows.append(Row("6", name, conns, rate=done / d["cpu"]["seconds"],
                             p50=d["p50_us"] / 1000, p99=d["p99_us"] / 1000,
                             p999=d["p999_us"] / 1000, unexpected=unexpected,
                             rows_added=added, ratio=f"{fmt(per_100k, 3)} MB/100k (< 1)",
                             notes=notes))

    # ---- bookkeeping

    def fail_rows(self, section, names, conns, error):
        for name in names:
            self.rows.append(Row(section, name, conns, error=str(error)))
        self.errors.append(f"{names[0]} at {conns}: {error}")

    def cleanup(self):
        for server in list(self.servers):
            try:
                self.stop_httpd(server)
            except Exception as e:  # noqa: BLE001 - keep stopping the rest
                print(f"bench: stopping httpd: {e}", file=sys.stderr)
        if self.pg:
            try:
                self.pg.destroy()
            except Exception as e:  # noqa: BLE001
                print(f"bench: stopping PostgreSQL: {e}", file=sys.stderr)
            self.pg = None

    def print_rows(self):
        """The rows as table lines, then what went wrong: the output of the
        scripts that run a few cells outside `make bench` (bench/group_commit.py,
        bench/pg_batch.py)."""
        for row in self.rows:
            print(" | ".join(str(c) for c in row.cells()))
        for problem in self.errors + self.disturbed:
            print("note:", problem)


def header_number(header, name):
    """A number #defined in include/<header>."""
    with open(os.path.join(ROOT, "include", header)) as f:
        m = re.search(rf"#define {name} (\d+)", f.read())
    if not m:
        raise CellError(f"include/{header} defines no {name}")
    return int(m.group(1))


def busy_timeout():
    return header_number("ra_store.h", "RA_STORE_SQLITE_BUSY_TIMEOUT_MS")


def page_size():
    """RemoteAssistPageSize's default: the bench leaves the directive unset."""
    return header_number("mod_ra_config.h", "RA_DEFAULT_PAGE_SIZE")


def minimal_body():
    """The 400-byte document of bench/mod_bench_minimal.c, for the static file."""
    with open(os.path.join(ROOT, "bench", "mod_bench_minimal.c")) as f:
        source = f.read()
    literal = re.search(r"body\[\] =(.*?);", source, re.S).group(1)
    return "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', literal)).replace('\\"', '"')
