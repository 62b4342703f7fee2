"""`make patroni` (docs/operations.md, "Patroni and etcd"): one etcd and two
Patroni-managed PostgreSQL instances in synchronous mode on this machine, a
node with the multi-host DBDParams, creates under load while the leader
crashes (Patroni and PostgreSQL killed at once); Patroni promotes the
synchronous replica and the module follows it through libpq's
target_session_attrs. Too heavy for make test (etcd, two Patroni daemons, a
leader TTL to wait out): it runs only with RA_PATRONI=1, which `make patroni`
sets."""
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request

import pytest

from httpd_harness import free_port
from pg_cluster import _pg_bin
from test_pgbouncer import CreateLoad

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not os.environ.get("RA_PATRONI"),
                                 reason="make patroni runs it (RA_PATRONI=1)")]

# Patroni's leader key lives this long without its holder's renewal
TTL = 10
BACK_WITHIN = TTL + 20

PATRONI_YML = """scope: remoteassist
name: {name}
restapi:
  listen: 127.0.0.1:{rest}
  connect_address: 127.0.0.1:{rest}
etcd3:
  hosts: 127.0.0.1:{etcd}
bootstrap:
  dcs:
    ttl: {ttl}
    loop_wait: 1
    retry_timeout: 3
    maximum_lag_on_failover: 1048576
    synchronous_mode: true
    postgresql:
      use_pg_rewind: false
  initdb:
    - encoding: UTF8
    - auth: trust
  pg_hba:
    - host all all 127.0.0.1/32 trust
    - host replication all 127.0.0.1/32 trust
postgresql:
  listen: 127.0.0.1:{port}
  connect_address: 127.0.0.1:{port}
  data_dir: {dir}/data
  bin_dir: {bin_dir}
  pgpass: {dir}/pgpass
  authentication:
    superuser:
      username: postgres
    replication:
      username: postgres
  parameters:
    unix_socket_directories: {dir}
"""


def as_postgres(args, **kw):
    if os.geteuid() == 0:
        args = ["runuser", "-u", "postgres", "--"] + args
    return subprocess.Popen(args, start_new_session=True, **kw)


def rest(port, path):
    """The status of Patroni's REST API at path (200 leader/replica, 503 not)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


class PatroniNode:
    def __init__(self, root, name, etcd_port):
        self.dir = os.path.join(root, name)
        os.makedirs(self.dir, mode=0o700)
        self.name, self.port, self.rest = name, free_port(), free_port()
        self.yml = os.path.join(self.dir, "patroni.yml")
        with open(self.yml, "w") as f:
            f.write(PATRONI_YML.format(name=name, rest=self.rest, etcd=etcd_port, ttl=TTL,
                                       port=self.port, dir=self.dir,
                                       bin_dir=os.path.dirname(_pg_bin("postgres"))))
        if os.geteuid() == 0:
            for path in (self.dir, self.yml):
                shutil.chown(path, "postgres", "postgres")
        self.log = open(os.path.join(self.dir, "patroni.log"), "wb")
        self.proc = as_postgres(["patroni", self.yml], stdout=self.log, stderr=subprocess.STDOUT)

    def crash(self):
        """The machine is gone: Patroni and PostgreSQL killed at once."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        pid_file = os.path.join(self.dir, "data", "postmaster.pid")
        if os.path.exists(pid_file):
            with open(pid_file) as f:
                os.kill(int(f.readline()), signal.SIGKILL)

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)  # Patroni stops its PostgreSQL
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.crash()
        self.log.close()


@pytest.fixture
def patroni(workroot):
    root = workroot.mktemp("patroni")
    os.chmod(root, 0o755)
    etcd_port, peer_port = free_port(), free_port()
    etcd_log = open(os.path.join(root, "etcd.log"), "wb")
    etcd = subprocess.Popen(
        ["etcd", "--name", "ra", "--data-dir", os.path.join(root, "etcd"),
         "--listen-client-urls", f"http://127.0.0.1:{etcd_port}",
         "--advertise-client-urls", f"http://127.0.0.1:{etcd_port}",
         "--listen-peer-urls", f"http://127.0.0.1:{peer_port}",
         "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer_port}",
         "--initial-cluster", f"ra=http://127.0.0.1:{peer_port}"],
        stdout=etcd_log, stderr=subprocess.STDOUT, start_new_session=True)
    nodes = []
    try:
        nodes.append(PatroniNode(root, "pg1", etcd_port))
        deadline = time.time() + 120
        while rest(nodes[0].rest, "/leader") != 200:
            assert time.time() < deadline, "no leader"
            time.sleep(0.5)
        nodes.append(PatroniNode(root, "pg2", etcd_port))
        while rest(nodes[1].rest, "/sync") != 200:
            assert time.time() < deadline, "no synchronous replica"
            time.sleep(0.5)
        subprocess.run(["psql", "-X", "-h", "127.0.0.1", "-p", str(nodes[0].port), "-U",
                        "postgres", "-d", "postgres", "-c", "CREATE DATABASE remoteassist"],
                       check=True, capture_output=True)
        yield nodes
    finally:
        for node in nodes:
            node.stop()
        os.kill(etcd.pid, signal.SIGTERM)
        etcd.wait(30)
        etcd_log.close()


class MultiHost:
    """The multi-host DBDParams of docs/operations.md, and psql to the leader."""

    def __init__(self, nodes):
        self.nodes = nodes
        self.dbd_params = ("host=127.0.0.1,127.0.0.1 port={},{} dbname=remoteassist "
                           "user=postgres target_session_attrs=read-write connect_timeout=2 "
                           "keepalives_idle=5 tcp_user_timeout=5000"
                           .format(*(n.port for n in nodes)))

    def psql(self, sql, db=None):
        return subprocess.run(["psql", "-X", "-At", "-c", sql, self.dbd_params],
                              check=True, capture_output=True, text=True).stdout.strip()


# while no member is the primary: 503s (RA00030), no connection (RA00040,
# mod_dbd's AH00629, AH00633, AH00639, AH02655), statements on dead ones (RA00041)
@pytest.mark.expect_log("RA00030", "RA00040", "RA00041", "AH00629", "AH00633", "AH00639",
                        "AH02655")
def test_patroni_failover_loses_no_acknowledged_create(private_service, patroni, keys,
                                                       record_property):
    leader, replica = patroni
    db = MultiHost(patroni)
    svc = private_service("patroni-node", pg=db)
    with CreateLoad(svc, keys.token()) as load:
        time.sleep(2)
        crashed = time.time()
        leader.crash()
        while time.time() < crashed + BACK_WITHIN:
            time.sleep(0.5)
            with load.lock:
                failed = [a[3] for a in load.answers if a[1] != 201]
                if failed and sum(1 for a in load.answers
                                  if a[3] > failed[0] and a[1] == 201) >= 20:
                    break
    answers = load.answers
    stored = set(db.psql("SELECT id FROM remote_assistance_partners").split())
    svc.stop()
    acknowledged = {pid for pid, status, _, _ in answers if status == 201}
    errors = [(status, retry) for _, status, retry, _ in answers if status != 201]
    # the outage: from the first error to the first 201 after it (creates in
    # flight at the crash may still be answered 201 just after it)
    first_error = min((at for _, status, _, at in answers if status != 201), default=crashed)
    first_back = min((at for _, status, _, at in answers if status == 201 and at > first_error),
                     default=None)
    summary = {"creates": len(answers), "acknowledged": len(acknowledged),
               "errors": len(errors), "lost": len(acknowledged - stored),
               "back_after_crash_seconds": first_back and round(first_back - crashed, 1),
               "leader_ttl": TTL, "new_leader": rest(replica.rest, "/leader")}
    record_property("patroni", summary)
    print("patroni failover:", json.dumps(summary))
    assert all(status == 503 and retry for status, retry in errors), errors[:10]
    assert first_back is not None, f"no 201 within {BACK_WITHIN} s of the crash"
    assert acknowledged <= stored, sorted(acknowledged - stored)[:10]
