"""A private PgBouncer on 127.0.0.1 in front of a tools/pg_cluster.py cluster.

It runs as the postgres user (PgBouncer refuses root), daemonized with a pid
file of its own; stop() ends it by that pid. point_at() is what an operator
does when the primary moved: rewrite [databases] and RELOAD through the admin
console (docs/operations.md, "PgBouncer").
"""
import os
import shutil
import signal
import subprocess
import tempfile
import time

import httpd_harness
from pg_cluster import _as_postgres, psql


class PgBouncer:
    def __init__(self, cluster, workdir=None, port=None, pool_mode="session", users=("postgres",),
                 settings=None):
        self.dir = workdir or tempfile.mkdtemp(prefix="ra-pgbouncer-")
        self.port = port or httpd_harness.free_port()
        self.cluster = cluster
        self.pool_mode = pool_mode
        self.users = list(users)
        # bounded waits: a client waits for a server connection at most
        # query_wait_timeout (PgBouncer's default is 120 s); a server that
        # does not answer a connect is given up after server_connect_timeout
        self.settings = dict({"default_pool_size": "40", "max_client_conn": "200",
                              "query_wait_timeout": "5", "server_connect_timeout": "3",
                              "server_login_retry": "1"}, **(settings or {}))
        self.ini = os.path.join(self.dir, "pgbouncer.ini")
        self.pid_file = os.path.join(self.dir, "pgbouncer.pid")
        self.log = os.path.join(self.dir, "pgbouncer.log")
        self.database = cluster.database

    @property
    def dbd_params(self):
        """DBDParams for the module: PgBouncer's address, the same database name."""
        return f"host=127.0.0.1 port={self.port} dbname={self.database} user=postgres"

    def _write(self):
        lines = ["[databases]",
                 f"{self.database} = host=127.0.0.1 port={self.cluster.port} "
                 f"dbname={self.cluster.database}",
                 "[pgbouncer]",
                 "listen_addr = 127.0.0.1",
                 f"listen_port = {self.port}",
                 f"unix_socket_dir = {self.dir}",
                 "auth_type = trust",
                 f"auth_file = {self.dir}/userlist.txt",
                 "admin_users = postgres",
                 f"pool_mode = {self.pool_mode}",
                 f"pidfile = {self.pid_file}",
                 f"logfile = {self.log}"]
        lines += [f"{k} = {v}" for k, v in self.settings.items()]
        with open(os.path.join(self.dir, "userlist.txt"), "w") as f:
            f.writelines(f'"{user}" ""\n' for user in self.users)
        with open(self.ini, "w") as f:
            f.write("\n".join(lines) + "\n")

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(self.dir, 0o755)
        self._write()
        if os.geteuid() == 0:
            for path in (self.dir, self.ini, os.path.join(self.dir, "userlist.txt")):
                shutil.chown(path, "postgres", "postgres")
        _as_postgres(["pgbouncer", "-d", self.ini])
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                self.admin("SHOW VERSION")
                return self
            except subprocess.CalledProcessError:
                time.sleep(0.1)
        raise RuntimeError(f"PgBouncer did not start:\n{self.read_log()}")

    def pid(self):
        try:
            with open(self.pid_file) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def admin(self, command):
        """A command on PgBouncer's admin console (SHOW POOLS, RELOAD, ...)."""
        return psql(self.port, command, "pgbouncer")

    def psql(self, sql, db=None):
        """psql through PgBouncer (as PgCluster.psql)."""
        return psql(self.port, sql, db or self.database)

    def point_at(self, cluster):
        """The operator's step after a promotion: [databases] names the new
        primary, then RELOAD. New server connections go there; those to the
        old server are closed as they are released (a dead one already is)."""
        self.cluster = cluster
        self._write()
        self.admin("RELOAD")

    def read_log(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def stop(self):
        pid = self.pid()
        if not pid:
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.time() + 10
        while time.time() < deadline and os.path.exists(f"/proc/{pid}"):
            time.sleep(0.05)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
